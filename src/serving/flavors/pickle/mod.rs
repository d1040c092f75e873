//! A pickle *interpreter* that executes nothing: it runs the opcodes of protocols 0-5 into an
//! inert [`Value`] tree. Globals are checked against an allow-list the moment they are named,
//! so a pickle that mentions `posix.system` is refused before anything else happens.
//!
//! Shared, mutable containers (lists, dicts, objects that `BUILD` updates after they were
//! memoized) live in an arena; the tree is expanded at the end under a depth and node budget.
//! numpy arrays (`_reconstruct` + `BUILD`, or protocol 5's in-band `_frombuffer`), dtypes and
//! numpy scalars are decoded into typed [`NdArray`]s during that expansion.

use std::collections::HashMap;
use std::sync::Arc;

use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::{MAX_FILE_BYTES, MAX_VALUE_NODES};
use crate::serving::flavors::value::Value;

mod machine;
mod numpy;
mod opcodes;

use numpy::Expander;

/// Decides which globals a pickle may name.
pub trait AllowList {
    fn allows(&self, module: &str, name: &str) -> bool;
}

impl<F: Fn(&str, &str) -> bool> AllowList for F {
    fn allows(&self, module: &str, name: &str) -> bool {
        self(module, name)
    }
}

#[derive(Debug, Clone)]
enum P {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Bytes(Arc<[u8]>),
    Tuple(Arc<[P]>),
    Global(Arc<str>),
    Ref(usize),
}

#[derive(Debug)]
enum Node {
    List(Vec<P>),
    Dict(Vec<(P, P)>),
    Object {
        class: Arc<str>,
        args: Vec<P>,
        state: Option<P>,
    },
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<P>,
    marks: Vec<usize>,
    memo: HashMap<u64, P>,
    arena: Vec<Node>,
    allow: &'a dyn AllowList,
}

fn bad(msg: impl Into<String>) -> LoadError {
    LoadError::invalid(format!("pickle: {}", msg.into()))
}

/// Runs a pickle into a [`Value`] tree. Every global is checked with `allow`.
pub fn load(data: &[u8], allow: &dyn AllowList) -> LoadResult<Value> {
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(bad("file is too large"));
    }
    let mut m = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        arena: Vec::new(),
        allow,
    };
    let root = m.run()?;
    let mut budget = MAX_VALUE_NODES;
    let mut x = Expander {
        arena: &m.arena,
        budget: &mut budget,
        cache: HashMap::new(),
    };
    x.expand(&root, 0)
}

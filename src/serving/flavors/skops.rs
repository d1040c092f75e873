//! skops files (MLflow 3.x's default for scikit-learn): a zip with `schema.json`, a tree of
//! typed nodes, plus `.npy` files for arrays. The tree is interpreted into the same inert
//! [`Value`] tree as a pickle, under the same allow-list; the flavor's `skops_trusted_types`
//! never widen it.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::sync::Arc;

use serde_json::Value as Json;

use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::{
    MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUE_NODES, MAX_ZIP_ENTRIES,
};
use crate::serving::flavors::npy;
use crate::serving::flavors::value::NdArray;
use crate::serving::flavors::value::{Object, Value};

/// Total bytes all entries of one archive may decompress to.
const MAX_ARCHIVE_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// A zip archive whose entries are read with their declared sizes checked.
pub(crate) struct Zip<R: Read + Seek> {
    z: zip::ZipArchive<R>,
    used: u64,
}

impl<R: Read + Seek> Zip<R> {
    pub fn open(r: R) -> LoadResult<Self> {
        let z = zip::ZipArchive::new(r)
            .map_err(|e| LoadError::invalid(format!("not a readable zip archive: {e}")))?;
        if z.len() > MAX_ZIP_ENTRIES {
            return Err(LoadError::invalid(format!("zip has {} entries", z.len())));
        }
        Ok(Zip { z, used: 0 })
    }

    pub fn read(&mut self, name: &str) -> LoadResult<Vec<u8>> {
        let mut f = self
            .z
            .by_name(name)
            .map_err(|e| LoadError::invalid(format!("zip entry '{name}': {e}")))?;
        let size = f.size();
        if size > MAX_FILE_BYTES || self.used.saturating_add(size) > MAX_ARCHIVE_BYTES {
            return Err(LoadError::invalid(format!(
                "zip entry '{name}' declares {size} bytes, over the limit"
            )));
        }
        self.used += size;
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 26));
        // Read at most one byte more than declared, to catch lying headers.
        (&mut f)
            .take(size.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| LoadError::invalid(format!("zip entry '{name}' is corrupt: {e}")))?;
        if buf.len() as u64 != size {
            return Err(LoadError::invalid(format!(
                "zip entry '{name}' holds {} bytes but declares {size}",
                buf.len()
            )));
        }
        Ok(buf)
    }
}

struct Reader<'a, R: Read + Seek> {
    zip: &'a mut Zip<R>,
    memo: HashMap<i64, Value>,
    budget: usize,
    allow: &'a dyn Fn(&str, &str) -> bool,
}

fn bad(msg: impl Into<String>) -> LoadError {
    LoadError::invalid(format!("skops: {}", msg.into()))
}

fn s<'j>(n: &'j Json, key: &str) -> LoadResult<&'j str> {
    n.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| bad(format!("node without '{key}'")))
}

const BUILTINS: &[&str] = &[
    "str", "int", "float", "bool", "list", "dict", "tuple", "set", "slice", "NoneType",
];

impl<R: Read + Seek> Reader<'_, R> {
    fn check(&self, module: &str, class: &str, what: &str) -> LoadResult<()> {
        if (module == "builtins" && BUILTINS.contains(&class)) || (self.allow)(module, class) {
            return Ok(());
        }
        Err(LoadError::refused(format!(
            "skops file references {what} '{module}.{class}', which is not an allowed class"
        )))
    }

    fn node(&mut self, n: &Json, depth: usize) -> LoadResult<Value> {
        if depth > MAX_DEPTH {
            return Err(bad(format!("schema nests deeper than {MAX_DEPTH} levels")));
        }
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| bad("schema has too many nodes"))?;
        let loader = s(n, "__loader__")?;
        let id = n.get("__id__").and_then(Json::as_i64);
        if loader == "CachedNode" {
            let id = id.ok_or_else(|| bad("CachedNode without __id__"))?;
            return self
                .memo
                .get(&id)
                .cloned()
                .ok_or_else(|| bad(format!("CachedNode refers to unknown id {id}")));
        }
        let module = s(n, "__module__")?;
        let class = s(n, "__class__")?;
        let content = n.get("content");
        let need = || content.ok_or_else(|| bad(format!("{loader} without content")));
        let v = match loader {
            "JsonNode" => {
                let text = need()?
                    .as_str()
                    .ok_or_else(|| bad("JsonNode content is not text"))?;
                match text.trim() {
                    // Python's json.dumps writes these, which are not JSON.
                    "NaN" => Value::Float(f64::NAN),
                    "Infinity" => Value::Float(f64::INFINITY),
                    "-Infinity" => Value::Float(f64::NEG_INFINITY),
                    t => {
                        let j: Json =
                            serde_json::from_str(t).map_err(|e| bad(format!("JsonNode: {e}")))?;
                        json_value(&j, depth)?
                    }
                }
            }
            "ListNode" | "SetNode" | "TupleNode" => {
                self.check(module, class, "a container")?;
                let items = need()?
                    .as_array()
                    .ok_or_else(|| bad("container content is not a list"))?;
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.node(i, depth + 1)?);
                }
                if loader == "TupleNode" {
                    Value::Tuple(out)
                } else {
                    Value::List(out)
                }
            }
            "DictNode" => {
                self.check(module, class, "a dict")?;
                let items = need()?
                    .as_object()
                    .ok_or_else(|| bad("DictNode content is not an object"))?;
                let key_types: Vec<String> = n
                    .get("key_types")
                    .and_then(|k| k.get("content"))
                    .and_then(Json::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| {
                                t.get("__class__").and_then(Json::as_str).map(String::from)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut out = Vec::with_capacity(items.len());
                for (i, (k, v)) in items.iter().enumerate() {
                    let key = match key_types.get(i).map(String::as_str) {
                        Some("int") => {
                            Value::Int(k.parse().map_err(|_| bad("dict key is not an int"))?)
                        }
                        _ => Value::Str(k.clone()),
                    };
                    out.push((key, self.node(v, depth + 1)?));
                }
                Value::Dict(out)
            }
            "DefaultDictNode" => {
                self.check(module, class, "a dict")?;
                let main = need()?
                    .get("main")
                    .ok_or_else(|| bad("defaultdict without main"))?;
                self.node(main, depth + 1)?
            }
            "NdArrayNode" => {
                self.check(module, class, "an array type")?;
                match n.get("type").and_then(Json::as_str) {
                    Some("numpy") => {
                        let file = s(n, "file")?;
                        if !file.ends_with(".npy") || file.contains('/') || file.contains('\\') {
                            return Err(bad(format!("array file name '{file}' is not allowed")));
                        }
                        let bytes = self.zip.read(file)?;
                        let arr = npy::read(&bytes).map_err(|e| e.context(file))?;
                        Value::Array(Arc::new(arr))
                    }
                    Some("json") => {
                        let items = need()?
                            .as_array()
                            .ok_or_else(|| bad("array content is not a list"))?;
                        let mut out = Vec::with_capacity(items.len());
                        for i in items {
                            out.push(self.node(i, depth + 1)?);
                        }
                        let shape = match n.get("shape") {
                            Some(sh) => self.node(sh, depth + 1)?,
                            None => Value::Tuple(vec![Value::Int(out.len() as i64)]),
                        };
                        let shape: Vec<usize> = shape
                            .to_i64_vec()
                            .ok_or_else(|| bad("array shape is not a list of integers"))?
                            .into_iter()
                            .map(|d| {
                                usize::try_from(d).map_err(|_| bad("negative array dimension"))
                            })
                            .collect::<LoadResult<_>>()?;
                        // Multi-dimensional object arrays are stored as nested lists.
                        let flat = flatten(out, shape.len());
                        Value::Array(Arc::new(NdArray::from_objects(flat, shape, false)?))
                    }
                    other => return Err(bad(format!("unknown array type {other:?}"))),
                }
            }
            "ObjectNode" => {
                self.check(module, class, "class")?;
                let state = match content {
                    Some(c) => self.node(c, depth + 1)?,
                    None => Value::None,
                };
                obj(module, class, Vec::new(), state)
            }
            "ReduceNode" | "TreeNode" | "LossNode" | "SGDNode" => {
                self.check(module, class, "class")?;
                let args = match n.get("__reduce__").and_then(|r| r.get("args")) {
                    Some(a) => match self.node(a, depth + 1)? {
                        Value::Tuple(t) | Value::List(t) => t,
                        _ => return Err(bad("__reduce__ args are not a tuple")),
                    },
                    None => Vec::new(),
                };
                let state = match content {
                    Some(c) => self.node(c, depth + 1)?,
                    None => Value::None,
                };
                obj(module, class, args, state)
            }
            "ConstructorFromReduceNode" => {
                self.check(module, class, "class")?;
                let args = match self.node(need()?, depth + 1)? {
                    Value::Tuple(t) | Value::List(t) => t,
                    _ => return Err(bad("constructor args are not a tuple")),
                };
                obj(module, class, args, Value::None)
            }
            "TypeNode" => {
                self.check(module, class, "type")?;
                Value::Global(format!("{module}.{class}"))
            }
            "SliceNode" => {
                let c = need()?;
                let part = |k: &str| {
                    c.get(k)
                        .and_then(Json::as_i64)
                        .map_or(Value::None, Value::Int)
                };
                obj(
                    "builtins",
                    "slice",
                    vec![part("start"), part("stop"), part("step")],
                    Value::None,
                )
            }
            "RandomStateNode" | "RandomGeneratorNode" | "DTypeNode" => {
                self.check(module, class, "class")?;
                // Inert: Weir never draws random numbers or needs the dtype object itself.
                obj(module, class, Vec::new(), Value::None)
            }
            "BytesNode" | "BytearrayNode" => {
                let file = s(n, "file")?;
                if file.contains('/') || file.contains('\\') {
                    return Err(bad(format!("file name '{file}' is not allowed")));
                }
                Value::Bytes(self.zip.read(file)?.into())
            }
            "FunctionNode" | "MethodNode" | "PartialNode" | "OperatorFuncNode" => {
                return Err(LoadError::refused(format!(
                    "skops file references function '{module}.{class}', which Weir will not call"
                )))
            }
            other => {
                return Err(LoadError::refused(format!(
                    "skops file uses a {other} for '{module}.{class}', which Weir does not support"
                )))
            }
        };
        if let Some(id) = id {
            if self.memo.len() < MAX_VALUE_NODES {
                self.memo.insert(id, v.clone());
            }
        }
        Ok(v)
    }
}

fn obj(module: &str, class: &str, args: Vec<Value>, state: Value) -> Value {
    Value::Object(Box::new(Object {
        class: format!("{module}.{class}"),
        args,
        state,
    }))
}

fn flatten(items: Vec<Value>, dims: usize) -> Vec<Value> {
    if dims <= 1 {
        return items;
    }
    let mut out = Vec::new();
    for i in items {
        match i {
            Value::List(l) | Value::Tuple(l) => out.extend(flatten(l, dims - 1)),
            other => out.push(other),
        }
    }
    out
}

fn json_value(j: &Json, depth: usize) -> LoadResult<Value> {
    if depth > MAX_DEPTH {
        return Err(bad("JSON nests too deeply"));
    }
    Ok(match j {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(a) => Value::List(
            a.iter()
                .map(|x| json_value(x, depth + 1))
                .collect::<LoadResult<_>>()?,
        ),
        Json::Object(o) => Value::Dict(
            o.iter()
                .map(|(k, v)| Ok((Value::Str(k.clone()), json_value(v, depth + 1)?)))
                .collect::<LoadResult<_>>()?,
        ),
    })
}

/// Reads a skops archive into a [`Value`] tree.
pub fn load<R: Read + Seek>(r: R, allow: &dyn Fn(&str, &str) -> bool) -> LoadResult<Value> {
    let mut zip = Zip::open(r)?;
    let schema = zip.read("schema.json")?;
    let schema: Json = {
        // serde_json's own recursion limit (128) also bounds this parse.
        serde_json::from_slice(&schema).map_err(|e| bad(format!("schema.json is not JSON: {e}")))?
    };
    if let Some(p) = schema.get("protocol") {
        if !p.is_u64() {
            return Err(bad("schema protocol is not a number"));
        }
    }
    let mut r = Reader {
        zip: &mut zip,
        memo: HashMap::new(),
        budget: MAX_VALUE_NODES,
        allow,
    };
    r.node(&schema, 0)
}

//! The interpreter's state: reading the opcode stream, the stack, marks, memo and arena, and
//! the effects of the opcodes that build containers and objects.

use super::*;
use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::{
    MAX_FILE_BYTES, MAX_PICKLE_MEMO, MAX_PICKLE_STACK, MAX_VALUE_NODES,
};

impl<'a> Machine<'a> {
    pub(super) fn read(&mut self, n: usize) -> LoadResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                bad(format!(
                    "truncated: needs {n} more bytes at offset {} but the file has {}",
                    self.pos,
                    self.data.len().saturating_sub(self.pos)
                ))
            })?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| bad("truncated"))?;
        self.pos = end;
        Ok(s)
    }
    pub(super) fn u8(&mut self) -> LoadResult<u8> {
        Ok(self.read(1)?.first().copied().unwrap_or(0))
    }
    pub(super) fn le<const N: usize>(&mut self) -> LoadResult<[u8; N]> {
        let s = self.read(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    pub(super) fn u32(&mut self) -> LoadResult<u32> {
        Ok(u32::from_le_bytes(self.le::<4>()?))
    }
    pub(super) fn u64(&mut self) -> LoadResult<u64> {
        Ok(u64::from_le_bytes(self.le::<8>()?))
    }
    pub(super) fn len_from(&self, n: u64) -> LoadResult<usize> {
        if n > MAX_FILE_BYTES || n > (self.data.len() - self.pos.min(self.data.len())) as u64 {
            return Err(bad(format!(
                "declares {n} bytes but only {} remain",
                self.data.len().saturating_sub(self.pos)
            )));
        }
        usize::try_from(n).map_err(|_| bad("length overflows"))
    }
    pub(super) fn line(&mut self) -> LoadResult<&'a str> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("truncated text argument"))?;
        let s = self.read(nl)?;
        self.pos += 1;
        std::str::from_utf8(s).map_err(|_| bad("text argument is not UTF-8"))
    }
    pub(super) fn push(&mut self, v: P) -> LoadResult<()> {
        if self.stack.len() >= MAX_PICKLE_STACK {
            return Err(bad("stack is too deep"));
        }
        self.stack.push(v);
        Ok(())
    }
    pub(super) fn pop(&mut self) -> LoadResult<P> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(bad("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| bad("stack underflow"))
    }
    pub(super) fn top(&mut self) -> LoadResult<&mut P> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(bad("stack underflow"));
        }
        self.stack.last_mut().ok_or_else(|| bad("stack underflow"))
    }
    pub(super) fn pop_mark(&mut self) -> LoadResult<Vec<P>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| bad("no MARK on the stack"))?;
        if m > self.stack.len() {
            return Err(bad("MARK past the stack"));
        }
        Ok(self.stack.split_off(m))
    }
    pub(super) fn alloc(&mut self, n: Node) -> LoadResult<P> {
        if self.arena.len() >= MAX_VALUE_NODES {
            return Err(bad("too many objects"));
        }
        self.arena.push(n);
        Ok(P::Ref(self.arena.len() - 1))
    }
    pub(super) fn node(&mut self, p: &P) -> LoadResult<&mut Node> {
        match p {
            P::Ref(i) => self.arena.get_mut(*i).ok_or_else(|| bad("bad reference")),
            _ => Err(bad("expected a list, dict or object on the stack")),
        }
    }
    pub(super) fn memo_put(&mut self, key: u64) -> LoadResult<()> {
        let v = self.top()?.clone();
        if self.memo.len() >= MAX_PICKLE_MEMO && !self.memo.contains_key(&key) {
            return Err(bad("memo is too large"));
        }
        self.memo.insert(key, v);
        Ok(())
    }
    pub(super) fn memo_get(&mut self, key: u64) -> LoadResult<()> {
        let v = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| bad(format!("memo key {key} is not defined")))?;
        self.push(v)
    }
    pub(super) fn global(&mut self, module: &str, name: &str) -> LoadResult<()> {
        // Python 2 names that pickle maps (only the ones a model could carry).
        let module = match module {
            "__builtin__" => "builtins",
            "copy_reg" => "copyreg",
            "commands" => "subprocess",
            m => m,
        };
        if !self.allow.allows(module, name) {
            return Err(LoadError::refused(format!(
                "pickle references '{module}.{name}', which is not an allowed class"
            )));
        }
        self.push(P::Global(format!("{module}.{name}").into()))
    }
    pub(super) fn text_str(&mut self) -> LoadResult<P> {
        // STRING: a repr()'d Python 2 str such as 'abc' or "abc" (escapes are rare in models).
        let l = self.line()?.trim_end_matches('\r');
        let inner = l
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .or_else(|| l.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            .ok_or_else(|| bad("STRING argument is not quoted"))?;
        if inner.contains('\\') {
            return Err(bad("escaped STRING arguments are not supported"));
        }
        Ok(P::Str(inner.into()))
    }

    pub(super) fn set_items(&mut self, target: &P, items: Vec<P>) -> LoadResult<()> {
        if items.len() % 2 != 0 {
            return Err(bad("SETITEMS with an odd number of items"));
        }
        let pairs: Vec<(P, P)> = items
            .chunks_exact(2)
            .filter_map(|c| Some((c.first()?.clone(), c.get(1)?.clone())))
            .collect();
        match self.node(target)? {
            Node::Dict(d) => {
                d.extend(pairs);
                Ok(())
            }
            Node::Object { state, .. } => {
                // A dict subclass: keep the items as its state.
                let mut cur = match state.take() {
                    Some(P::Ref(_)) | None => Vec::new(),
                    Some(_) => return Err(bad("SETITEMS on an object with state")),
                };
                cur.extend(pairs);
                let d = self.alloc(Node::Dict(cur))?;
                if let Node::Object { state, .. } = self.node(target)? {
                    *state = Some(d);
                }
                Ok(())
            }
            Node::List(_) => Err(bad("SETITEMS on a list")),
        }
    }

    pub(super) fn append(&mut self, target: &P, items: Vec<P>) -> LoadResult<()> {
        match self.node(target)? {
            Node::List(l) => {
                l.extend(items);
                Ok(())
            }
            _ => Err(bad("APPENDS on something that is not a list")),
        }
    }

    pub(super) fn reduce(&mut self, callable: P, args: P) -> LoadResult<P> {
        let P::Global(name) = callable else {
            return Err(bad("REDUCE of something that is not an allowed class"));
        };
        let args: Vec<P> = match args {
            P::Tuple(t) => t.to_vec(),
            P::None => Vec::new(),
            _ => return Err(bad("REDUCE arguments are not a tuple")),
        };
        match &*name {
            "collections.OrderedDict" | "builtins.dict" if args.is_empty() => {
                self.alloc(Node::Dict(Vec::new()))
            }
            "builtins.list" if args.is_empty() => self.alloc(Node::List(Vec::new())),
            "copyreg._reconstructor" => {
                // copyreg._reconstructor(cls, base, state): cls.__new__ (+ base init)
                match args.first() {
                    Some(P::Global(cls)) => self.alloc(Node::Object {
                        class: cls.clone(),
                        args: Vec::new(),
                        state: None,
                    }),
                    _ => Err(bad("_reconstructor without a class")),
                }
            }
            "copyreg.__newobj__" => {
                let mut it = args.into_iter();
                match it.next() {
                    Some(P::Global(cls)) => self.alloc(Node::Object {
                        class: cls,
                        args: it.collect(),
                        state: None,
                    }),
                    _ => Err(bad("__newobj__ without a class")),
                }
            }
            _ => self.alloc(Node::Object {
                class: name,
                args,
                state: None,
            }),
        }
    }

    pub(super) fn build(&mut self, target: &P, st: P) -> LoadResult<()> {
        match self.node(target)? {
            Node::Object { state, .. } => {
                *state = Some(st);
                Ok(())
            }
            Node::Dict(_) | Node::List(_) => Err(bad("BUILD on a dict or list")),
        }
    }
}

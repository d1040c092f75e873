//! Caps on everything read from an artifact. Every size, shape and count is checked against the
//! bytes actually present and against these limits before anything is allocated.

/// Total elements of one array.
pub const MAX_ELEMENTS: usize = 256 * 1024 * 1024;
/// Bytes of one array's data, of one pickle/JSON/npy file, of one decompressed zip entry.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Nesting of containers (pickle values, skops schema, JSON/UBJSON, trees walked recursively).
pub const MAX_DEPTH: usize = 200;
/// Pickle: values on the stack, entries in the memo, marks.
pub const MAX_PICKLE_STACK: usize = 1 << 20;
pub const MAX_PICKLE_MEMO: usize = 1 << 20;
/// Values produced when a pickle's shared references are expanded into a tree.
pub const MAX_VALUE_NODES: usize = 16 * 1024 * 1024;
/// Nodes of one tree, trees of one ensemble, array dimensions.
pub const MAX_TREE_NODES: usize = 64 * 1024 * 1024;
pub const MAX_TREES: usize = 1024 * 1024;
pub const MAX_DIMS: usize = 32;
/// Entries of a zip archive.
pub const MAX_ZIP_ENTRIES: usize = 100_000;

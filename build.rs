//! Embeds the web UI (`ui/`) in the binary: generates a table of every file under `ui/` with its
//! bytes and a content hash (for ETags). `cargo build` alone builds the UI; no Node.js involved.
//!
//! Also compiles KServe's `proto/grpc_predict_v2.proto` into Rust (messages, the server trait and
//! a client for the tests and the bench) with protox, a protobuf compiler in Rust: no `protoc`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            collect(&path, root, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, path));
        }
    }
}

/// FNV-1a, enough to tell versions of a file apart in an ETag.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// `proto/*.proto` → `$OUT_DIR/inference.rs` (package `inference`).
fn grpc(manifest: &Path) {
    let dir = manifest.join("proto");
    println!("cargo:rerun-if-changed={}", dir.display());
    let fds = protox::compile([dir.join("grpc_predict_v2.proto")], [&dir])
        .unwrap_or_else(|e| panic!("proto/grpc_predict_v2.proto: {e}"));
    tonic_build::configure()
        // The client is generic over its channel: the library needs no HTTP/2 client.
        .build_transport(false)
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("generating the gRPC code: {e}"));
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    grpc(&manifest);
    let root = manifest.join("ui");
    println!("cargo:rerun-if-changed=ui");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let mut code = String::from("/// (path under ui/, bytes, content hash)\npub static ASSETS: &[(&str, &[u8], u64)] = &[\n");
    for (rel, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(path).expect("readable UI file");
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?}), {}),",
            path.display().to_string(),
            fnv(&bytes)
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("ui_assets.rs");
    std::fs::write(out, code).expect("writable OUT_DIR");
}

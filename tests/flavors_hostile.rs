//! Hostile and broken artifacts: each is refused with an error that names what was wrong, and
//! nothing panics.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use weir::serving::flavors::{load, pickle, sklearn, ubjson, LoadError};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("weir-flavors-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn allow(m: &str, n: &str) -> bool {
    sklearn::allowed(m, n)
}

fn load_pickle(bytes: &[u8]) -> Result<weir::serving::flavors::Value, LoadError> {
    pickle::load(bytes, &allow)
}

fn err_of<T>(r: Result<T, LoadError>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Protocol-2 pickle of `module.name(*args)` via GLOBAL + REDUCE.
fn reduce_pickle(module: &str, name: &str) -> Vec<u8> {
    let mut p = vec![0x80, 2, b'c'];
    p.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    p.extend_from_slice(b"X\x02\x00\x00\x00id\x85R.");
    p
}

#[test]
fn disallowed_globals_are_named() {
    for (m, n) in [
        ("posix", "system"),
        ("os", "system"),
        ("builtins", "eval"),
        ("subprocess", "Popen"),
        ("__builtin__", "exec"),
    ] {
        let e = err_of(load_pickle(&reduce_pickle(m, n)));
        let m = if m == "__builtin__" { "builtins" } else { m };
        assert!(
            e.contains(&format!("'{m}.{n}'")) && e.contains("not an allowed class"),
            "{e}"
        );
        assert!(e.starts_with("refusing to load model"), "{e}");
    }
    // STACK_GLOBAL (protocol 4)
    let mut p = vec![0x80, 4];
    for s in ["posix", "system"] {
        p.push(0x8c);
        p.push(s.len() as u8);
        p.extend_from_slice(s.as_bytes());
    }
    p.extend_from_slice(&[0x93, b')', b'R', b'.']);
    assert!(err_of(load_pickle(&p)).contains("'posix.system'"));
}

#[test]
fn pickle_refuses_persistent_ids_ext_and_buffers() {
    assert!(err_of(load_pickle(b"\x80\x02X\x01\x00\x00\x00aQ.")).contains("persistent ID"));
    assert!(err_of(load_pickle(b"\x80\x02\x82\x01.")).contains("extension registry"));
    assert!(err_of(load_pickle(b"\x80\x05\x97.")).contains("out-of-band"));
}

#[test]
fn pickle_bounds() {
    // A declared length far past the data.
    let e = err_of(load_pickle(b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f"));
    assert!(e.contains("declares"), "{e}");
    // Truncated.
    assert!(err_of(load_pickle(b"\x80\x02X\x05\x00\x00\x00ab")).contains("declares"));
    assert!(err_of(load_pickle(b"\x80\x02")).contains("truncated"));
    // A list that contains itself: expansion is depth-limited.
    let e = err_of(load_pickle(b"\x80\x02]q\x00h\x00a."));
    assert!(e.contains("deeper than"), "{e}");
    // Exponential sharing: each level references the previous list twice.
    let mut p = b"\x80\x02]q\x00".to_vec();
    for i in 0..60u8 {
        p.extend_from_slice(&[b'(', b'h', i, b'h', i, b'l', b'q', i + 1]);
    }
    p.push(b'.');
    let e = err_of(load_pickle(&p));
    assert!(e.contains("too many values") || e.contains("deeper"), "{e}");
    // Stack underflow and bad memo.
    assert!(err_of(load_pickle(b"\x80\x02a.")).contains("underflow"));
    assert!(err_of(load_pickle(b"\x80\x02h\x07.")).contains("memo key"));
}

/// A numpy array pickle (protocol 2 style) with a given shape and data.
fn array_pickle(shape: &[i64], data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    p.extend_from_slice(b"cnumpy.core.multiarray\n_reconstruct\n");
    p.extend_from_slice(b"cnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01(");
    for d in shape {
        p.push(b'J');
        p.extend_from_slice(&(*d as i32).to_le_bytes());
    }
    p.extend_from_slice(b"tcnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89");
    p.push(b'B');
    p.extend_from_slice(&(data.len() as u32).to_le_bytes());
    p.extend_from_slice(data);
    p.extend_from_slice(b"tb.");
    p
}

#[test]
fn numpy_arrays_in_pickles_are_checked() {
    let ok = load_pickle(&array_pickle(&[2], &[0u8; 16])).unwrap();
    assert_eq!(ok.to_f64_vec(), Some(vec![0.0, 0.0]));
    let e = err_of(load_pickle(&array_pickle(&[3], &[0u8; 16])));
    assert!(e.contains("16 bytes") && e.contains("need 24"), "{e}");
    let e = err_of(load_pickle(&array_pickle(
        &[100_000, 100_000, 100_000],
        &[0u8; 16],
    )));
    assert!(e.contains("more than"), "{e}");
    let e = err_of(load_pickle(&array_pickle(&[-1], &[0u8; 16])));
    assert!(e.contains("negative"), "{e}");
}

fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn npy_is_checked() {
    use weir::serving::flavors::npy::read;
    let a = read(&npy("'>i4'", "(2,)", &[0, 0, 0, 1, 0, 0, 0, 2])).unwrap();
    assert_eq!(
        a.data,
        weir::serving::flavors::value::ArrayData::I64(vec![1, 2])
    );
    let e = err_of(read(&npy("'<f8'", "(3,)", &[0u8; 16])));
    assert!(e.contains("16 bytes") && e.contains("need 24"), "{e}");
    let e = err_of(read(&npy("'<f8'", "(4294967296, 4294967296)", &[0u8; 16])));
    assert!(e.contains("more than"), "{e}");
    let e = err_of(read(&npy("'|O'", "(1,)", &[0u8; 8])));
    assert!(e.contains("object arrays"), "{e}");
    let rec = npy(
        "[('a', '<i8'), ('b', '<f8')]",
        "(1,)",
        &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f],
    );
    let a = read(&rec).unwrap();
    assert!(
        matches!(a.data, weir::serving::flavors::value::ArrayData::Record(ref f) if f.len() == 2)
    );
    let mut bad = npy("'<f8'", "(1,)", &[0u8; 8]);
    bad[8] = 0xff;
    bad[9] = 0xff;
    assert!(err_of(read(&bad)).contains("header declares"));
}

fn skops_zip(dir: &Path, schema: &serde_json::Value, extra: &[(&str, Vec<u8>)]) -> PathBuf {
    let path = dir.join("model.skops");
    let f = std::fs::File::create(&path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("schema.json", opts).unwrap();
    z.write_all(schema.to_string().as_bytes()).unwrap();
    for (n, b) in extra {
        z.start_file(*n, opts).unwrap();
        z.write_all(b).unwrap();
    }
    z.finish().unwrap();
    path
}

fn conf() -> serde_json::Value {
    json!({"pickled_model": "model.skops", "serialization_format": "skops"})
}

#[test]
fn skops_disallowed_types_are_named() {
    let d = tmpdir("skops-bad");
    let schema = json!({"__class__": "system", "__module__": "posix", "__loader__": "ObjectNode", "content": null, "protocol": 2});
    skops_zip(&d, &schema, &[]);
    let e = err_of(load(&d, "sklearn", &conf()));
    assert!(
        e.contains("'posix.system'") && e.contains("not an allowed class"),
        "{e}"
    );
    let schema = json!({"__class__": "eval", "__module__": "builtins", "__loader__": "FunctionNode", "content": {}, "protocol": 2});
    skops_zip(&d, &schema, &[]);
    assert!(err_of(load(&d, "sklearn", &conf())).contains("'builtins.eval'"));
    // A supported estimator whose array points at a file outside the archive.
    let schema = json!({"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy", "file": "../x.npy", "protocol": 2});
    skops_zip(&d, &schema, &[]);
    assert!(err_of(load(&d, "sklearn", &conf())).contains("not allowed"));
}

#[test]
fn truncated_and_broken_zips() {
    let d = tmpdir("skops-trunc");
    let schema = json!({"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy", "file": "a.npy", "protocol": 2});
    let p = skops_zip(&d, &schema, &[("a.npy", npy("'<f8'", "(2,)", &[0u8; 16]))]);
    let full = std::fs::read(&p).unwrap();
    for cut in [
        4,
        full.len() / 3,
        full.len() / 2,
        full.len() - 10,
        full.len() - 1,
    ] {
        std::fs::write(&p, &full[..cut]).unwrap();
        let e = load(&d, "sklearn", &conf());
        assert!(
            matches!(e, Err(LoadError::Invalid(_))),
            "cut {cut}: {:?}",
            e.err()
        );
    }
    // Flip bytes inside the compressed data / headers: errors, never panics.
    for i in (0..full.len()).step_by(7) {
        let mut b = full.clone();
        b[i] ^= 0x5a;
        std::fs::write(&p, &b).unwrap();
        let _ = load(&d, "sklearn", &conf());
    }
    // A missing npy file.
    skops_zip(&d, &schema, &[]);
    assert!(err_of(load(&d, "sklearn", &conf())).contains("a.npy"));
}

fn lgb_model(tree: &str) -> String {
    format!("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=regression\nfeature_names=a b\n\n{tree}\n\nend of trees\n")
}

#[test]
fn broken_trees_are_refused() {
    let d = tmpdir("lgb");
    let c = json!({"data": "model.lgb"});
    let cases = [
        // cycle: node 1 points back at node 0
        ("Tree=0\nnum_leaves=3\nsplit_feature=0 1\nthreshold=0.5 0.5\ndecision_type=2 2\nleft_child=1 0\nright_child=-1 -2\nleaf_value=1 2 3\nshrinkage=1", "not after its parent"),
        // child out of range
        ("Tree=0\nnum_leaves=2\nsplit_feature=0\nthreshold=0.5\ndecision_type=2\nleft_child=-7\nright_child=-2\nleaf_value=1 2\nshrinkage=1", "does not exist"),
        // negative feature
        ("Tree=0\nnum_leaves=2\nsplit_feature=-3\nthreshold=0.5\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=1 2\nshrinkage=1", "feature -3"),
        // feature past the model's width
        ("Tree=0\nnum_leaves=2\nsplit_feature=9\nthreshold=0.5\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=1 2\nshrinkage=1", "feature 9"),
        // huge declared size
        ("Tree=0\nnum_leaves=999999999999\nleaf_value=1\nshrinkage=1", "leaves"),
        ("Tree=0\nnum_leaves=3\nsplit_feature=0\nthreshold=0.5\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=1 2 3\nshrinkage=1", "num_leaves"),
    ];
    for (tree, want) in cases {
        std::fs::write(d.join("model.lgb"), lgb_model(tree)).unwrap();
        let e = err_of(load(&d, "lightgbm", &c));
        assert!(e.contains(want), "{want}: {e}");
    }
}

#[test]
fn xgboost_broken_trees_are_refused() {
    let d = tmpdir("xgb");
    let c = json!({"data": "model.json", "model_class": "xgboost.core.Booster"});
    let model = |left: serde_json::Value, split: serde_json::Value| {
        json!({"learner": {"learner_model_param": {"base_score": "5E-1", "num_class": "0", "num_feature": "2"},
            "objective": {"name": "reg:squarederror"},
            "gradient_booster": {"name": "gbtree", "model": {"tree_info": [0], "trees": [{
                "left_children": left, "right_children": [2, -1, -1], "split_indices": split,
                "split_conditions": [0.5, 1.0, 2.0], "default_left": [0, 0, 0]}]}}}})
    };
    for (m, want) in [
        (
            model(json!([0, -1, -1]), json!([0, 0, 0])),
            "not after its parent",
        ),
        (model(json!([9, -1, -1]), json!([0, 0, 0])), "out of range"),
        (model(json!([1, -1, -1]), json!([-4, 0, 0])), "feature -4"),
        (model(json!([1, -1]), json!([0, 0, 0])), "different lengths"),
    ] {
        std::fs::write(d.join("model.json"), m.to_string()).unwrap();
        let e = err_of(load(&d, "xgboost", &c));
        assert!(e.contains(want), "{want}: {e}");
    }
    // UBJSON with a huge declared count.
    let e = err_of(ubjson::parse(b"[#L\x7f\xff\xff\xff\xff\xff\xff\xff"));
    assert!(e.contains("length") || e.contains("declares"), "{e}");
    let e = err_of(ubjson::parse(b"[$d#l\x00\x10\x00\x00\x00"));
    assert!(e.contains("declares"), "{e}");
}

#[test]
fn paths_and_flavors() {
    let d = tmpdir("paths");
    let e = err_of(load(
        &d,
        "sklearn",
        &json!({"pickled_model": "../../etc/passwd"}),
    ));
    assert!(e.contains("not a plain path"), "{e}");
    let e = err_of(load(&d, "pytorch", &json!({})));
    assert!(e.contains("torch.onnx.export"), "{e}");
    std::fs::write(
        d.join("model.pkl"),
        reduce_pickle("sklearn.neighbors._classification", "KNeighborsClassifier"),
    )
    .unwrap();
    let e = err_of(load(&d, "sklearn", &json!({"pickled_model": "model.pkl"})));
    assert!(e.contains("KNeighborsClassifier"), "{e}");
}

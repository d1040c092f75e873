//! Random bytes never panic the pickle, UBJSON, npy or LightGBM readers, and work is bounded.

use proptest::prelude::*;
use weir::serving::flavors::{lightgbm, npy, pickle, sklearn, ubjson};

fn allow(m: &str, n: &str) -> bool {
    sklearn::allowed(m, n)
}

/// Opcodes that make pickles interesting, to mix with random bytes.
fn pickle_like() -> impl Strategy<Value = Vec<u8>> {
    let op = prop_oneof![
        Just(vec![b'(']),
        Just(vec![b']']),
        Just(vec![b'}']),
        Just(vec![b')']),
        Just(vec![b'a']),
        Just(vec![b'e']),
        Just(vec![b's']),
        Just(vec![b'u']),
        Just(vec![b't']),
        Just(vec![0x85]),
        Just(vec![0x86]),
        Just(vec![b'R']),
        Just(vec![b'b']),
        Just(vec![0x81]),
        Just(vec![0x94]),
        Just(vec![b'h', 0]),
        Just(vec![b'h', 1]),
        Just(vec![b'q', 0]),
        Just(vec![b'q', 1]),
        Just(vec![b'N']),
        Just(vec![b'K', 3]),
        Just(b"cnumpy\ndtype\n".to_vec()),
        Just(b"ccollections\nOrderedDict\n".to_vec()),
        Just(b"cnumpy.core.multiarray\n_reconstruct\n".to_vec()),
        Just(b"X\x02\x00\x00\x00f8".to_vec()),
        Just(b"C\x08\x00\x00\x00\x00\x00\x00\x00\x00".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..4),
    ];
    proptest::collection::vec(op, 0..200).prop_map(|v| {
        let mut out = vec![0x80, 4];
        out.extend(v.into_iter().flatten());
        out.push(b'.');
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn pickle_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = pickle::load(&data, &allow);
    }

    #[test]
    fn pickle_structured(data in pickle_like()) {
        let start = std::time::Instant::now();
        let _ = pickle::load(&data, &allow);
        prop_assert!(start.elapsed().as_secs() < 5);
    }

    #[test]
    fn ubjson_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ubjson::parse(&data);
    }

    #[test]
    fn ubjson_structured(parts in proptest::collection::vec(prop_oneof![
        Just(b"{".to_vec()), Just(b"}".to_vec()), Just(b"[".to_vec()), Just(b"]".to_vec()),
        Just(b"$d#U\x02".to_vec()), Just(b"#L\x00\x00\x00\x00\x00\x00\x00\x03".to_vec()),
        Just(b"U\x05hello".to_vec()), Just(b"SU\x01a".to_vec()), Just(b"d\x3f\x80\x00\x00".to_vec()),
        Just(b"Z".to_vec()), Just(b"T".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..4)], 0..100)) {
        let data: Vec<u8> = parts.into_iter().flatten().collect();
        let _ = ubjson::parse(&data);
    }

    #[test]
    fn npy_random_header(descr in "[<>|]?[a-zA-Z?]{1,2}[0-9]{0,3}", shape in proptest::collection::vec(0i64..1_000_000_000, 0..4), data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let shape = format!("({})", shape.iter().map(|d| format!("{d},")).collect::<String>());
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(header.len() as u16).to_le_bytes());
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(&data);
        let _ = npy::read(&v);
    }

    #[test]
    fn lightgbm_random_text(lines in proptest::collection::vec("[a-z_]{1,12}=[-0-9 .]{0,20}", 0..20)) {
        let text = format!("tree\nmax_feature_idx=2\nnum_tree_per_iteration=1\n\nTree=0\n{}\n", lines.join("\n"));
        let _ = lightgbm::parse(&text);
    }
}

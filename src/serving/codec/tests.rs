//! Unit tests of the scoring codecs.

use super::json::{self, J};
use super::*;
use crate::serving::tensor::{DType, Data, Spec, Tensor};

fn iris() -> Schema {
    Schema {
        inputs: vec![Spec::tensor("X", DType::F32, vec![-1, 4])],
        columns: None,
        ..Default::default()
    }
}

fn f32s(t: &Tensor) -> &[f32] {
    match &t.data {
        Data::F32(v) => v,
        other => panic!("not f32: {other:?}"),
    }
}

const ROWS: [f32; 8] = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];

#[test]
fn every_mlflow_json_format_gives_the_same_tensor() {
    let bodies = [
        r#"{"dataframe_split": {"columns": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#,
        r#"{"dataframe_split": {"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#,
        r#"{"dataframe_split": {"index": [10, 11], "columns": ["a", "b", "c", "d"], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#,
        r#"{"dataframe_records": [{"a": 5.1, "b": 3.5, "c": 1.4, "d": 0.2}, {"a": 6.7, "b": 3.0, "c": 5.2, "d": 2.3}]}"#,
        r#"{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}"#,
        r#"{"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}"#,
        r#"{"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], "params": {"foo": 1}}"#,
        r#"{"inputs": {"X": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#,
        r#"{"instances": [{"X": [5.1, 3.5, 1.4, 0.2]}, {"X": [6.7, 3.0, 5.2, 2.3]}]}"#,
        r#"{"inputs": [["5.1", "3.5", "1.4", "0.2"], [6.7, 3, 5.2, 2.3]]}"#,
    ];
    for b in bodies {
        let t = decode_json(b.as_bytes(), &iris()).unwrap_or_else(|e| panic!("{b}: {e:?}"));
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].shape, vec![2, 4], "{b}");
        assert_eq!(f32s(&t[0]), &ROWS, "{b}");
    }
    let csvs = [
        "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n",
        "5.1,3.5,1.4,0.2\r\n6.7,3.0,5.2,2.3",
        ",a,b,c,d\n0,5.1,3.5,1.4,0.2\n1,6.7,3.0,5.2,2.3\n",
        "\"a\",\"b\",c,d\n\"5.1\",3.5,1.4,0.2\n\n6.7,3.0,5.2,2.3\n",
    ];
    for c in csvs {
        let t = decode_csv(c.as_bytes(), &iris()).unwrap_or_else(|e| panic!("{c}: {e:?}"));
        assert_eq!(t[0].shape, vec![2, 4], "{c}");
        assert_eq!(f32s(&t[0]), &ROWS, "{c}");
    }
}

#[test]
fn records_keep_the_clients_column_order() {
    let t = decode_json(
        br#"{"dataframe_records": [{"d": 1, "c": 2, "b": 3, "a": 4}]}"#,
        &iris(),
    )
    .unwrap();
    assert_eq!(f32s(&t[0]), &[1.0, 2.0, 3.0, 4.0]);
    // With a column signature, columns are matched by name instead.
    let mut s = iris();
    s.columns = Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]);
    let t = decode_json(
        br#"{"dataframe_records": [{"d": 1, "c": 2, "b": 3, "a": 4, "extra": 9}]}"#,
        &s,
    )
    .unwrap();
    assert_eq!(f32s(&t[0]), &[4.0, 3.0, 2.0, 1.0]);
    let e = decode_json(br#"{"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}"#, &s).unwrap_err();
    assert!(
        matches!(&e, DecodeError::Schema(m) if m.contains("Model is missing inputs ['d']")),
        "{e:?}"
    );
}

#[test]
fn errors_match_mlflow() {
    let s = iris();
    let cases: &[(&str, bool, &str)] = &[
        (
            r#"{"inputs": [[5.1, 3.5,"#,
            true,
            "Invalid input. Ensure that input is a valid JSON formatted string.",
        ),
        (
            "",
            true,
            "Invalid input. Ensure that input is a valid JSON formatted string.",
        ),
        (
            r#"{"foo": [[5.1, 3.5, 1.4, 0.2]]}"#,
            true,
            "Received dictionary with input fields: []. IMPORTANT",
        ),
        (
            r#"{"inputs": [[1,2,3,4]], "instances": [[1,2,3,4]]}"#,
            true,
            "Received dictionary with input fields: ['inputs', 'instances'].",
        ),
        ("[[5.1, 3.5, 1.4, 0.2]]", true, "Received a list."),
        (
            r#"{"inputs": [["a", "b", "c", "d"]]}"#,
            true,
            "Invalid input. could not convert string to float: 'a'",
        ),
        (
            r#"{"inputs": {"Y": [[5.1, 3.5, 1.4, 0.2]]}}"#,
            true,
            "un-named  model signature",
        ),
        (
            r#"{"inputs": [[5.1, 3.5, 1.4]]}"#,
            false,
            "Shape of input (1, 3) does not match expected shape (-1, 4).",
        ),
        (
            r#"{"inputs": [5.1, 3.5, 1.4, 0.2]}"#,
            false,
            "Shape of input (4,) does not match expected shape (-1, 4).",
        ),
        (
            r#"{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[5.1, 3.5, 1.4]]}}"#,
            false,
            "the input DataFrame passed had 3 columns and an input shape of (-1, 4)",
        ),
        (
            r#"{"dataframe_records": [{"a": 5.1, "b": 3.5, "c": 1.4}]}"#,
            false,
            "had 3 columns",
        ),
        (
            r#"{"instances": [{"a": 5.1, "b": 3.5, "c": 1.4, "d": 0.2}]}"#,
            false,
            "an input of type <class 'dict'> was found",
        ),
        (r#"{"inputs": [[1, 2], [3]]}"#, true, "ragged"),
        (r#"{"inputs": []}"#, true, "empty"),
        (r#"{"inputs": [[]]}"#, false, "Shape of input (1, 0)"),
        (r#"{"inputs": 5}"#, true, "Expected a list"),
        (r#"{"dataframe_split": {"data": []}}"#, true, "empty"),
        (
            r#"{"dataframe_split": [1]}"#,
            true,
            "dataframe_split must be a dictionary",
        ),
        (
            r#"{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}"#,
            true,
            "1 columns passed",
        ),
        (
            r#"{"dataframe_records": [1, 2]}"#,
            true,
            "list of dictionaries",
        ),
        (
            r#"{"dataframe_records": [{"a": [1, 2], "b": 1, "c": 1, "d": 1}]}"#,
            true,
            "cells must be scalars",
        ),
        (r#"{"inputs": [[{"a": 1}, 2, 3, 4]]}"#, true, "ragged"),
        ("7", true, "Received a scalar."),
    ];
    for (body, bad_request, text) in cases {
        let e = decode_json(body.as_bytes(), &s).unwrap_err();
        assert_eq!(
            matches!(e, DecodeError::BadRequest(_)),
            *bad_request,
            "{body}: {e:?}"
        );
        assert!(e.message().contains(text), "{body}: {e:?}");
    }
    for csv in [
        "a,b,c,d\nx,y,z,w\n",
        "a,b\n1,2\n",
        "a,b,c,d\n\"1,2,3,4\n",
        "a,b,c,d\n",
    ] {
        assert!(decode_csv(csv.as_bytes(), &s).is_err(), "{csv}");
    }
    assert!(decode_csv(&[0xff, 0xfe], &s).is_err());
    assert!(decode_csv(b"", &s).is_err());
}

#[test]
fn ragged_bodies_cannot_make_us_reserve_memory() {
    // Long first rows at every level, then short ones: the shape guessed from the first
    // elements (3000 x 3000 x 3000) is far more than the body holds.
    let level3 = format!("[{}]", vec!["1"; 3000].join(","));
    let level2 = format!("[{level3},{}]", vec!["[1]"; 2999].join(","));
    let body = format!(
        "{{\"inputs\": [{level2},{}]}}",
        vec!["[[1]]"; 2999].join(",")
    );
    let e = decode_json(body.as_bytes(), &iris()).unwrap_err();
    assert!(e.message().contains("ragged"), "{e:?}");
}

#[test]
fn casts_to_the_model_dtype() {
    let cell = |s: &str| json::parse(s.as_bytes()).unwrap();
    let vals: Vec<J> = ["1", "2.0", "\"3\"", "true"]
        .iter()
        .map(|s| cell(s))
        .collect();
    let refs: Vec<&J> = vals.iter().collect();
    assert_eq!(
        cast(&refs, DType::I64).unwrap(),
        Data::I64(vec![1, 2, 3, 1])
    );
    assert_eq!(
        cast(&refs, DType::F64).unwrap(),
        Data::F64(vec![1.0, 2.0, 3.0, 1.0])
    );
    assert_eq!(
        cast(&refs, DType::Str).unwrap(),
        Data::Str(vec!["1".into(), "2.0".into(), "3".into(), "True".into()])
    );
    assert!(cast(&[&J::Float(2.5)], DType::I32).is_err());
    assert!(cast(&[&J::Int(300)], DType::U8).is_err());
    assert!(cast(&[&J::Int(-1)], DType::U64).is_err());
    assert_eq!(
        cast(&[&J::UInt(u64::MAX)], DType::U64).unwrap(),
        Data::U64(vec![u64::MAX])
    );
    assert_eq!(
        cast(&[&J::Int(0), &J::Str("True".into())], DType::Bool).unwrap(),
        Data::Bool(vec![false, true])
    );
    assert!(cast(&[&J::Int(2)], DType::Bool).is_err());
    match cast(&[&J::Null], DType::F32).unwrap() {
        Data::F32(v) => assert!(v[0].is_nan()),
        other => panic!("{other:?}"),
    }
    assert!(cast(&[&J::Null], DType::I64).is_err());
}

#[test]
fn several_inputs_are_matched_by_name() {
    let s = Schema {
        inputs: vec![
            Spec::tensor("age", DType::F32, vec![-1, 1]),
            Spec::tensor("city", DType::Str, vec![-1, 1]),
        ],
        columns: None,
        ..Default::default()
    };
    let bodies = [
        r#"{"dataframe_split": {"columns": ["city", "age"], "data": [["Paris", 30], ["Oslo", 40]]}}"#,
        r#"{"dataframe_records": [{"age": 30, "city": "Paris"}, {"city": "Oslo", "age": 40}]}"#,
        r#"{"inputs": {"age": [[30], [40]], "city": [["Paris"], ["Oslo"]]}}"#,
        r#"{"instances": [{"age": 30, "city": "Paris"}, {"age": 40, "city": "Oslo"}]}"#,
    ];
    for b in bodies {
        let t = decode_json(b.as_bytes(), &s).unwrap_or_else(|e| panic!("{b}: {e:?}"));
        assert_eq!(
            t[0],
            Tensor::new(vec![2, 1], Data::F32(vec![30.0, 40.0])),
            "{b}"
        );
        assert_eq!(
            t[1],
            Tensor::new(vec![2, 1], Data::Str(vec!["Paris".into(), "Oslo".into()])),
            "{b}"
        );
    }
    let t = decode_csv(b"city,age\nParis,30\nOslo,40\n", &s).unwrap();
    assert_eq!(t[0], Tensor::new(vec![2, 1], Data::F32(vec![30.0, 40.0])));
    for bad in [
        r#"{"inputs": [[30, "Paris"]]}"#,
        r#"{"dataframe_split": {"data": [[30, "Paris"]]}}"#,
        r#"{"dataframe_records": [{"age": 30}]}"#,
        r#"{"inputs": {"age": [[30]]}}"#,
    ] {
        let e = decode_json(bad.as_bytes(), &s).unwrap_err();
        assert!(matches!(e, DecodeError::Schema(_)), "{bad}: {e:?}");
        assert!(e.message().contains("missing inputs"), "{bad}: {e:?}");
    }
}

#[test]
fn shapes() {
    assert_eq!(py_tuple(&[-1i64, 4]), "(-1, 4)");
    assert_eq!(py_tuple(&[3usize]), "(3,)");
    assert_eq!(iris().describe(), "[Tensor('float32', (-1, 4))]");
    // A [-1] input takes a flat list; a [-1, 1] input takes a flat list too.
    let flat = Schema {
        inputs: vec![Spec::tensor("x", DType::F64, vec![-1, 1])],
        columns: None,
        ..Default::default()
    };
    let t = decode_json(br#"{"inputs": [1, 2, 3]}"#, &flat).unwrap();
    assert_eq!(t[0].shape, vec![3, 1]);
    let t = decode_json(br#"{"dataframe_split": {"data": [1, 2, 3]}}"#, &flat).unwrap();
    assert_eq!(t[0].shape, vec![3, 1]);
}

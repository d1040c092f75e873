//! Property tests over everything that parses bytes from the network: the search grammar, the
//! MLflow request field decoder, the scoring decoders (MLflow JSON and CSV, KServe V1 and V2) and
//! `safe_path`. For any input: no panic, an error in the protocol's shape, and allocation bounded
//! by a small multiple of the input (a counting allocator measures each case on its own thread).
//!
//! CI runs the default number of cases (seconds). A longer run:
//! `PROPTEST_CASES=100000 cargo test --release --test properties`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use weir::error::ErrorCode;
use weir::serving::codec::{self as decode, kserve, Schema};
use weir::serving::tensor::{DType, Spec};

/// Counts the bytes this thread has allocated and not freed, and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now);
            }
        });
    });
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        // SAFETY: same layout as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize);
        // SAFETY: as `GlobalAlloc::realloc` requires of its caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Run `f` and return its result and the peak bytes it allocated beyond what was live before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, (peak - start).max(0) as usize)
}

fn iris() -> Schema {
    Schema {
        inputs: vec![Spec::tensor("X", DType::F32, vec![-1, 4])],
        columns: Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]),
        max_rows: 1000,
    }
}

fn two_inputs() -> Schema {
    Schema {
        inputs: vec![
            Spec::tensor("x", DType::F64, vec![-1, 2]),
            Spec::tensor("s", DType::Str, vec![-1]),
        ],
        columns: None,
        max_rows: 1000,
    }
}

/// Allocation allowed for decoding `len` bytes: a small multiple of the input, plus the
/// fixed costs of a decode.
fn bound(len: usize) -> usize {
    16 * len + 256 * 1024
}

/// JSON-ish text: structurally plausible scoring bodies with hostile leaves.
fn json_body() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("0".to_owned()),
        Just("-1.5e300".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("\"x\"".to_owned()),
        Just("\"1e9\"".to_owned()),
        Just("18446744073709551616".to_owned()),
        "[a-z]{0,3}".prop_map(|s| format!("\"{s}\"")),
    ];
    let tree = leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-e]{1,2}", inner), 0..6).prop_map(|v| {
                let fields: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\": {x}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    });
    let key = prop_oneof![
        Just("inputs"),
        Just("instances"),
        Just("dataframe_split"),
        Just("dataframe_records"),
        Just("columns"),
        Just("data"),
        Just("shape"),
        Just("name"),
    ];
    (key, tree.clone(), tree).prop_map(|(k, a, b)| format!("{{\"{k}\": {a}, \"data\": {b}}}"))
}

fn is_mlflow_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidParameterValue | ErrorCode::BadRequest | ErrorCode::RequestTooLarge
    )
}

proptest! {
    #[test]
    fn search_grammar_never_panics(input in ".{0,200}") {
        if let Err(e) = weir::search::parse_filter(&input) {
            prop_assert!(is_mlflow_error(e.code), "{e:?}");
        }
        if let Err(e) = weir::search::parse_order_by(&input) {
            prop_assert!(is_mlflow_error(e.code), "{e:?}");
        }
    }

    #[test]
    fn search_filters_of_tokens_never_panic(
        parts in prop::collection::vec(prop_oneof![
            Just("metrics.m"), Just("params.`p q`"), Just("tags.\"t\""), Just("attributes.status"),
            Just("run_id"), Just("datasets.digest"), Just("="), Just("!="), Just(">="), Just("LIKE"),
            Just("ILIKE"), Just("IN"), Just("NOT"), Just("IS"), Just("NULL"), Just("AND"), Just("OR"),
            Just("("), Just(")"), Just("'v'"), Just("0.5"), Just("-1e309"), Just(","), Just("'"),
        ], 0..40)
    ) {
        let input = parts.join(" ");
        for schema in [
            &weir::search::fields::RUNS,
            &weir::search::fields::EXPERIMENTS,
            &weir::search::fields::REGISTERED_MODELS,
            &weir::search::fields::MODEL_VERSIONS,
            &weir::search::fields::LOGGED_MODELS,
        ] {
            if let Err(e) = weir::search::filter_for(schema, Some(&input)) {
                prop_assert!(is_mlflow_error(e.code), "{input}: {e:?}");
            }
            if let Err(e) = weir::search::order_for(schema, std::slice::from_ref(&input)) {
                prop_assert!(is_mlflow_error(e.code), "{input}: {e:?}");
            }
        }
    }

    #[test]
    fn request_fields_never_panic(body in prop::collection::vec(any::<u8>(), 0..512), query in ".{0,200}") {
        let (parsed, peak) = peak_of(|| weir::api::Fields::from_json(&body));
        prop_assert!(peak <= bound(body.len()), "{peak} bytes for {} bytes", body.len());
        match parsed {
            Ok(f) => {
                for k in ["run_id", "name", "max_results", "value", "tags", "metrics", "view_type"] {
                    let _ = f.str(k);
                    let _ = f.i64(k);
                    let _ = f.f64(k);
                    let _ = f.bool(k);
                    let _ = f.str_list(k);
                    let _ = f.key_values(k);
                    let _ = f.obj_list(k);
                }
            }
            Err(e) => prop_assert!(is_mlflow_error(e.code), "{e:?}"),
        }
        let f = weir::api::Fields::from_query(&query);
        for k in ["run_ids", "max_results", "path", "a"] {
            let _ = f.str(k);
            let _ = f.i64(k);
            let _ = f.str_list(k);
        }
    }

    #[test]
    fn structured_request_fields_never_panic(body in json_body()) {
        if let Ok(f) = weir::api::Fields::from_json(body.as_bytes()) {
            for k in ["inputs", "data", "columns", "name", "shape"] {
                let _ = f.str(k);
                let _ = f.i64(k);
                let _ = f.key_values(k);
                let _ = f.obj_list(k);
            }
        }
    }

    #[test]
    fn scoring_decoders_never_panic_on_bytes(body in prop::collection::vec(any::<u8>(), 0..1024)) {
        for schema in [iris(), two_inputs()] {
            let (_, peak) = peak_of(|| decode::decode_json(&body, &schema));
            prop_assert!(peak <= bound(body.len()));
            let (_, peak) = peak_of(|| decode::decode_csv(&body, &schema));
            prop_assert!(peak <= bound(body.len()));
            let (_, peak) = peak_of(|| kserve::decode_infer(&body, &schema));
            prop_assert!(peak <= bound(body.len()));
        }
    }

    #[test]
    fn scoring_decoders_never_panic_on_json(body in json_body()) {
        for schema in [iris(), two_inputs()] {
            let (r, peak) = peak_of(|| decode::decode_json(body.as_bytes(), &schema));
            prop_assert!(peak <= bound(body.len()), "{peak} bytes for {body}");
            if let Ok(t) = r {
                prop_assert!(t[0].shape.first().is_some_and(|&n| n <= schema.max_rows));
            }
            let (_, peak) = peak_of(|| kserve::decode_infer(body.as_bytes(), &schema));
            prop_assert!(peak <= bound(body.len()), "{peak} bytes for {body}");
        }
    }

    #[test]
    fn csv_decoder_never_panics(rows in prop::collection::vec(
        prop::collection::vec(prop_oneof![
            Just("".to_owned()), Just("\"".to_owned()), Just("\"a,\"\"b\"".to_owned()),
            Just("1.5".to_owned()), Just("NaN".to_owned()), Just("x".to_owned()), Just("\r".to_owned()),
        ], 0..6), 0..20)
    ) {
        let text: String = rows.iter().map(|r| r.join(",") + "\n").collect();
        for schema in [iris(), two_inputs()] {
            let (_, peak) = peak_of(|| decode::decode_csv(text.as_bytes(), &schema));
            prop_assert!(peak <= bound(text.len()));
        }
    }

    #[test]
    fn safe_path_never_lets_a_path_escape(raw in prop_oneof![
        ".{0,64}",
        prop::collection::vec(prop_oneof![
            Just(".."), Just("."), Just(""), Just("%2e%2e"), Just("%252e"), Just("a"), Just("\\"),
            Just(".weir-tmp"), Just("é"), Just("%00"), Just("~"),
        ], 0..8).prop_map(|v| v.join("/")),
    ]) {
        match weir::artifacts::safe_path(&raw) {
            Ok(p) => {
                for (i, s) in p.segments().iter().enumerate() {
                    prop_assert!(s != "." && s != ".." && !s.is_empty(), "{raw:?} -> {s:?}");
                    prop_assert!(!s.contains(['/', '\\', '\0']), "{raw:?} -> {s:?}");
                    prop_assert!(i > 0 || !s.starts_with(weir::artifacts::RESERVED_PREFIX));
                }
            }
            Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidParameterValue),
        }
    }
}

#[test]
fn a_large_flat_body_stays_within_its_budget() {
    // 2 MB of zeros for a 4-column model with --max-rows 1000: the decoder stops at the budget.
    let mut body = b"{\"inputs\": [".to_vec();
    while body.len() < 2 << 20 {
        body.extend_from_slice(b"0,");
    }
    body.extend_from_slice(b"0]}");
    let (r, peak) = peak_of(|| decode::decode_json(&body, &iris()));
    let e = r.unwrap_err();
    assert!(e.message().contains("--max-rows"), "{e:?}");
    assert!(peak < 1 << 20, "{peak} bytes");
}

//! Every model `tests/flavors/make_fixtures.py` saved with MLflow's real sklearn, xgboost and
//! lightgbm flavors (3.17.2 and 2.22.5 clients, every format they write) loads in Weir's native
//! evaluator and predicts what Python predicted. The fixtures are made by
//! `scripts/flavor-fixtures.sh` (which `scripts/test.sh` runs) into `$WEIR_FLAVORS_FIXTURES`.

use std::path::PathBuf;

use serde_json::Value as Json;
use weir::serving::flavors::{load, Column, Frame, Labels, LoadError, Method, Prediction};

pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::var("WEIR_FLAVORS_FIXTURES").map(PathBuf::from);
    let Ok(dir) = dir else {
        panic!(
            "WEIR_FLAVORS_FIXTURES is not set: run `export WEIR_FLAVORS_FIXTURES=$(scripts/flavor-fixtures.sh)` \
             (scripts/test.sh does it)"
        );
    };
    assert!(
        dir.is_dir(),
        "fixture directory {} is missing: run scripts/flavor-fixtures.sh",
        dir.display()
    );
    dir
}

fn model_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for v in ["v3", "v2"] {
        let Ok(rd) = std::fs::read_dir(fixtures_dir().join(v)) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().join("expected.json").is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    assert!(
        !out.is_empty(),
        "no fixtures found under {}",
        fixtures_dir().display()
    );
    out
}

fn frame(input: &Json) -> Frame {
    let cols = input
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            let vals = c["values"].as_array().unwrap();
            let col = match c["type"].as_str().unwrap() {
                "f64" => Column::F64(
                    vals.iter()
                        .map(|v| v.as_f64().unwrap_or(f64::NAN))
                        .collect(),
                ),
                "i64" => Column::I64(vals.iter().map(|v| v.as_i64().unwrap()).collect()),
                "bool" => Column::Bool(vals.iter().map(|v| v.as_bool().unwrap()).collect()),
                _ => Column::Str(vals.iter().map(|v| v.as_str().map(String::from)).collect()),
            };
            (name, col)
        })
        .collect();
    Frame::named(cols).unwrap()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0) || (a.is_nan() && b.is_nan())
}

fn compare(got: &Prediction, exp: &Json, tol: f64) -> Result<(), String> {
    let data = exp["data"].as_array().unwrap();
    match (exp["kind"].as_str().unwrap(), got) {
        ("labels", Prediction::Labels(l)) => {
            let ok = match (exp["type"].as_str().unwrap(), l) {
                ("i64", Labels::I64(v)) => data
                    .iter()
                    .map(|d| d.as_i64().unwrap())
                    .eq(v.iter().copied()),
                ("f64", Labels::F64(v)) => data
                    .iter()
                    .map(|d| d.as_f64().unwrap())
                    .eq(v.iter().copied()),
                ("bool", Labels::Bool(v)) => data
                    .iter()
                    .map(|d| d.as_bool().unwrap())
                    .eq(v.iter().copied()),
                ("str", Labels::Str(v)) => data
                    .iter()
                    .map(|d| d.as_str().unwrap())
                    .eq(v.iter().map(String::as_str)),
                (t, l) => return Err(format!("label type {t} vs {l:?}")),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("labels differ: expected {data:?}, got {l:?}"))
            }
        }
        ("values", Prediction::Values(v)) | ("matrix", Prediction::Matrix { data: v, .. }) => {
            if v.len() != data.len() {
                return Err(format!("{} values, expected {}", v.len(), data.len()));
            }
            for (i, (a, b)) in v.iter().zip(data).enumerate() {
                let b = b.as_f64().unwrap_or(f64::NAN);
                if !close(*a, b, tol) {
                    return Err(format!("value {i}: got {a}, expected {b}"));
                }
            }
            Ok(())
        }
        (k, g) => Err(format!("expected {k}, got {g:?}")),
    }
}

#[test]
fn every_fixture_matches_python() {
    let mut failures = Vec::new();
    let (mut models, mut checks) = (0, 0);
    for dir in model_dirs() {
        let exp: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        if exp.get("refused").is_some() {
            continue;
        }
        let name = dir
            .strip_prefix(fixtures_dir())
            .unwrap()
            .display()
            .to_string();
        let model = match load(&dir, exp["flavor"].as_str().unwrap(), &exp["flavor_conf"]) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: load: {e}"));
                continue;
            }
        };
        models += 1;
        if let Some(n) = exp.get("n_features_in").and_then(Json::as_u64) {
            assert_eq!(model.n_features_in(), Some(n as usize), "{name}");
        }
        let f = frame(&exp["input"]);
        // The same rows without column names are matched by position.
        let unnamed = Frame::unnamed(f.columns().to_vec()).unwrap();
        for (key, method, tol) in [
            ("predict", Method::Predict, 1e-5),
            ("predict_proba", Method::PredictProba, 1e-6),
        ] {
            let Some(e) = exp.get(key) else { continue };
            checks += 1;
            match model.predict(&f, method) {
                Ok(p) => {
                    if let Err(msg) = compare(&p, e, tol) {
                        failures.push(format!("{name} {key}: {msg}"));
                    }
                }
                Err(err) => failures.push(format!("{name} {key}: {err}")),
            }
            if let Err(msg) = model
                .predict(&unnamed, method)
                .map_err(|e| e.to_string())
                .and_then(|p| compare(&p, e, tol))
            {
                failures.push(format!("{name} {key} (unnamed columns): {msg}"));
            }
        }
    }
    println!(
        "{models} models loaded, {checks} outputs checked, {} failures",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn hostile_pickles_are_refused_by_name() {
    let mut n = 0;
    for dir in model_dirs() {
        let exp: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let Some(global) = exp.get("refused").and_then(Json::as_str) else {
            continue;
        };
        n += 1;
        match load(&dir, "sklearn", &exp["flavor_conf"]) {
            Err(LoadError::Refused(msg)) => assert!(
                msg.contains(&format!("'{global}'")) && msg.contains("not an allowed class"),
                "{}: {msg}",
                dir.display()
            ),
            Err(e) => panic!("{}: wrong error {e}", dir.display()),
            Ok(_) => panic!("{}: a hostile pickle loaded", dir.display()),
        }
    }
    assert!(n >= 3, "hostile fixtures missing");
}

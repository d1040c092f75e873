//! Micro-benchmarks of the serving hot path: request decoding, response encoding, and inference
//! with each backend on the bundled models, one row and a 1000-row batch (no HTTP; the
//! load-generator numbers come from `benches/compare.sh`, see BENCHMARKS.md).
//!
//!     cargo bench --bench serving                      # ONNX Runtime from ORT_DYLIB_PATH or the cache
//!     cargo bench --bench serving -- decode            # a subset

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use weir::config::BackendChoice;
use weir::serving::backend;
use weir::serving::codec::{self as decode, encode, Schema};
use weir::serving::mlmodel::MlModel;
use weir::serving::tensor::{DType, Data, Spec, Tensor};

fn iris_schema() -> Schema {
    Schema {
        inputs: vec![Spec::tensor("X", DType::F32, vec![-1, 4])],
        columns: None,
        ..Default::default()
    }
}

fn rows(n: usize) -> Vec<[f32; 4]> {
    (0..n)
        .map(|i| {
            let f = (i % 50) as f32 / 10.0;
            [4.3 + f, 2.0 + f / 2.0, 1.0 + f, 0.1 + f / 2.0]
        })
        .collect()
}

fn json_body(n: usize) -> Vec<u8> {
    serde_json::json!({ "inputs": rows(n) })
        .to_string()
        .into_bytes()
}

fn csv_body(n: usize) -> Vec<u8> {
    let mut s = String::from("a,b,c,d\n");
    for r in rows(n) {
        s.push_str(&format!("{},{},{},{}\n", r[0], r[1], r[2], r[3]));
    }
    s.into_bytes()
}

fn tensor(n: usize) -> Tensor {
    Tensor::new(vec![n, 4], Data::F32(rows(n).concat()))
}

fn codecs(c: &mut Criterion) {
    let schema = iris_schema();
    for n in [1, 100] {
        let body = json_body(n);
        c.bench_function(&format!("decode/json_inputs/{n}_rows"), |b| {
            b.iter(|| decode::decode_json(black_box(&body), &schema).map(|t| t.len()))
        });
        let csv = csv_body(n);
        c.bench_function(&format!("decode/csv/{n}_rows"), |b| {
            b.iter(|| decode::decode_csv(black_box(&csv), &schema).map(|t| t.len()))
        });
    }
    let split = serde_json::json!({"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": rows(100)}})
        .to_string()
        .into_bytes();
    c.bench_function("decode/dataframe_split/100_rows", |b| {
        b.iter(|| decode::decode_json(black_box(&split), &schema).map(|t| t.len()))
    });
    let specs = vec![
        Spec::tensor("label", DType::I64, vec![-1]),
        Spec::tensor("probabilities", DType::F32, vec![-1, 3]),
    ];
    for n in [1usize, 100] {
        let values = vec![
            weir::serving::tensor::Value::Tensor(Tensor::new(vec![n], Data::I64(vec![1; n]))),
            weir::serving::tensor::Value::Tensor(Tensor::new(
                vec![n, 3],
                Data::F32(vec![0.333_333_34; 3 * n]),
            )),
        ];
        c.bench_function(&format!("encode/mlflow/{n}_rows"), |b| {
            b.iter(|| encode::mlflow_predictions(&specs, black_box(&values)).len())
        });
    }
}

fn inference(c: &mut Criterion) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut backends = vec![BackendChoice::Tract];
    match backend::ort::environment() {
        Ok(_) => backends.insert(0, BackendChoice::Ort),
        Err(e) => eprintln!("skipping ONNX Runtime: {e}"),
    }
    for model in ["iris-rf", "iris-logreg"] {
        let dir = models.join(model);
        let onnx = MlModel::read(&dir)
            .and_then(|m| m.onnx_path(&dir))
            .expect("bundled model");
        for &choice in &backends {
            let mut engine = backend::load(choice, &onnx, 1).expect("loads");
            let name = engine.backend.as_str();
            let runner = &mut engine.runners[0];
            let mut group = c.benchmark_group(format!("infer/{model}/{name}"));
            // A 1000-row batch on tract's tree ensemble takes tens of milliseconds: fewer samples.
            group.sample_size(20);
            for n in [1, 1000] {
                let input = tensor(n);
                group.throughput(criterion::Throughput::Elements(n as u64));
                group.bench_function(format!("{n}_rows"), |b| {
                    b.iter(|| runner.run(vec![black_box(input.clone())]).map(|o| o.len()))
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, codecs, inference);
criterion_main!(benches);

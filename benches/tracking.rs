//! Micro-benchmarks of the tracking path, no HTTP: the search grammar, a 1000-metric log-batch
//! into SQLite, and `runs/search` with a metric filter and order over a populated SQLite store.
//!
//!     cargo bench --bench tracking                     # 10,000 runs in the search store
//!     WEIR_BENCH_RUNS=100000 cargo bench --bench tracking -- search
//!
//! The load-generator numbers against the real servers (Weir and MLflow side by side) come from
//! `benches/compare.sh`; see BENCHMARKS.md.

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use weir::search::{parse_filter, parse_order_by};
use weir::store::{ArtifactLocation, ExperimentStore, NewRun, RunSearch, RunStore, SqlStore};
use weir::types::{KeyValue, NewMetric, ViewType};

const FILTERS: &[(&str, &str)] = &[
    ("metric", "metrics.accuracy > 0.9"),
    (
        "compound",
        "metrics.accuracy > 0.9 and params.model = 'rf' and tags.`mlflow.source.type` = 'LOCAL' and attributes.status != 'FAILED'",
    ),
    (
        "or_parens",
        "(params.depth IN ('3', '5', '8') OR metrics.loss < 0.2) AND attributes.run_name LIKE 'sweep-%'",
    ),
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A store in a fresh temp directory with one experiment; the directory lives as long as the store.
async fn fresh_store() -> (tempfile::TempDir, SqlStore, i64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let uri = format!("sqlite:///{}/bench.db", dir.path().display());
    let store = SqlStore::open(&uri).await.expect("open store");
    let exp = store
        .create_experiment("bench", ArtifactLocation::Given("/tmp/bench".into()), &[])
        .await
        .expect("experiment")
        .parse()
        .expect("numeric experiment id");
    (dir, store, exp)
}

async fn new_run(store: &SqlStore, exp: i64, name: String) -> String {
    let run = NewRun {
        experiment_id: exp,
        user_id: "bench".into(),
        run_name: name,
        start_time: 1_700_000_000_000,
        tags: vec![],
    };
    store.create_run(run).await.expect("run").info.run_id
}

fn metric(key: &str, value: f64, step: i64) -> NewMetric {
    NewMetric {
        key: key.into(),
        value,
        timestamp: 1_700_000_000_000 + step,
        step,
        model_id: None,
        dataset_name: None,
        dataset_digest: None,
    }
}

fn kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

fn filters(c: &mut Criterion) {
    for (name, filter) in FILTERS {
        c.bench_function(&format!("search/parse_filter/{name}"), |b| {
            b.iter(|| parse_filter(black_box(filter)).is_ok())
        });
    }
    c.bench_function("search/parse_order_by", |b| {
        b.iter(|| parse_order_by(black_box("metrics.`val accuracy` DESC")).is_ok())
    });
}

fn log_batch(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, store, exp) = rt.block_on(fresh_store());
    let run = rt.block_on(new_run(&store, exp, "batch".into()));
    // Each iteration logs 1000 new points (steps never repeat), as a training loop would.
    let step = AtomicI64::new(0);
    c.bench_function("store/log_batch/1000_metrics/sqlite", |b| {
        b.iter_batched(
            || {
                let base = step.fetch_add(1000, Ordering::Relaxed);
                (0..1000)
                    .map(|i| metric(if i % 2 == 0 { "loss" } else { "accuracy" }, 0.5, base + i))
                    .collect::<Vec<_>>()
            },
            |metrics| {
                rt.block_on(store.log_batch(&run, &metrics, &[], &[]))
                    .expect("log_batch")
            },
            BatchSize::SmallInput,
        )
    });
}

fn search(c: &mut Criterion) {
    let n: usize = std::env::var("WEIR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = runtime();
    let (_dir, store, exp) = rt.block_on(fresh_store());
    rt.block_on(async {
        for i in 0..n {
            let run = new_run(&store, exp, format!("sweep-{i}")).await;
            let acc = (i * 7919 % 1000) as f64 / 1000.0;
            let metrics = [metric("accuracy", acc, 0), metric("loss", 1.0 - acc, 0)];
            let params = [kv("model", "rf".into()), kv("depth", (i % 10).to_string())];
            store
                .log_batch(&run, &metrics, &params, &[])
                .await
                .expect("populate");
        }
    });
    let query = |filter: &str, order: &str| RunSearch {
        experiment_ids: vec![exp],
        filter: Some(parse_filter(filter).expect("filter")),
        view: ViewType::ActiveOnly,
        order_by: vec![parse_order_by(order).expect("order_by")],
        max_results: 100,
        cursor: Default::default(),
    };
    let cases = [
        (
            "metric_filter_order",
            query("metrics.accuracy > 0.9", "metrics.accuracy DESC"),
        ),
        (
            "param_and_metric",
            query(
                "params.depth = '3' and metrics.loss < 0.5",
                "metrics.loss ASC",
            ),
        ),
    ];
    for (name, q) in cases {
        c.bench_function(&format!("store/search_runs/{name}/{n}_runs/sqlite"), |b| {
            b.iter(|| {
                rt.block_on(store.search_runs(black_box(&q)))
                    .expect("search")
                    .items
                    .len()
            })
        });
    }
}

criterion_group!(benches, filters, log_batch, search);
criterion_main!(benches);

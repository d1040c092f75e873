//! The floors `benches/compare.sh` measures Weir against: what the machine gives with nothing of
//! Weir's in the way.
//!
//!     cargo run --release --example floor -- http 127.0.0.1:8099
//!         a bare hyper HTTP/1.1 server answering every request with a constant prediction
//!         (the ceiling for any HTTP model server on this machine and load generator);
//!     cargo run --release --example floor -- infer models/iris-rf ort 2 5 1
//!         <model dir> <backend> <threads> <seconds> <rows>: the model in a bare loop, one
//!         session per thread, no HTTP; prints {"calls_per_s": .., "rows_per_s": ..} as JSON.

use std::convert::Infallible;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use weir::config::BackendChoice;
use weir::serving::backend;
use weir::serving::mlmodel::MlModel;
use weir::serving::tensor::{Data, Tensor};

const USAGE: &str =
    "usage: floor http <addr> | floor infer <model dir> <ort|tract> <threads> <seconds> <rows>";

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["http", addr] => http(addr),
        ["infer", dir, backend, threads, seconds, rows] => infer(
            Path::new(dir),
            backend,
            parse(threads)?,
            parse(seconds)?,
            parse(rows)?,
        ),
        _ => Err(USAGE.into()),
    }
}

fn parse(s: &str) -> Result<usize, String> {
    s.parse().map_err(|_| format!("not a number: {s}\n{USAGE}"))
}

/// A constant answer to any request, on the same tokio + hyper stack Weir uses, two workers.
fn http(addr: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("bind {addr}: {e}"))?;
        eprintln!("floor: listening on http://{addr}");
        loop {
            let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                    let body = Full::new(Bytes::from_static(b"{\"predictions\": [0]}"));
                    let mut response = Response::new(body);
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Run the model flat out on `threads` threads for `seconds`, `rows` rows per call.
fn infer(
    dir: &Path,
    backend: &str,
    threads: usize,
    seconds: usize,
    rows: usize,
) -> Result<(), String> {
    let choice = match backend {
        "ort" => BackendChoice::Ort,
        "tract" => BackendChoice::Tract,
        other => return Err(format!("unknown backend {other}\n{USAGE}")),
    };
    let onnx = MlModel::read(dir)
        .and_then(|m| m.onnx_path(dir))
        .map_err(|e| e.to_string())?;
    let engine = backend::load(choice, &onnx, threads)?;
    let input = Tensor::new(
        vec![rows, 4],
        Data::F32((0..rows * 4).map(|i| 1.0 + (i % 7) as f32 * 0.5).collect()),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = engine
        .runners
        .into_iter()
        .map(|mut runner| {
            let (stop, calls, input) = (stop.clone(), calls.clone(), input.clone());
            std::thread::spawn(move || -> Result<(), String> {
                while !stop.load(Ordering::Relaxed) {
                    runner.run(vec![input.clone()])?;
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds as u64));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join()
            .map_err(|_| "an inference thread panicked".to_string())??;
    }
    let secs = started.elapsed().as_secs_f64();
    let calls = calls.load(Ordering::Relaxed) as f64;
    println!(
        "{}",
        serde_json::json!({
            "backend": backend, "threads": threads, "rows": rows,
            "calls_per_s": calls / secs, "rows_per_s": calls * rows as f64 / secs,
        })
    );
    Ok(())
}

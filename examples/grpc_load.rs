//! A gRPC load generator for `benches/compare.sh` (beside `floor`): wrk speaks only HTTP/1.1, ghz
//! is not packaged for Debian and h2load does not read gRPC statuses, so this is a small one.
//!
//!     cargo run --release --example grpc_load -- 127.0.0.1:8081 iris 32 8 1
//!         <addr> <model> <streams> <seconds> <rows>: `streams` tasks each send ModelInfer
//!         (rows × 4 FP32 in raw_input_contents, as tritonclient sends them) back to back over
//!         one HTTP/2 connection for `seconds`; prints {"requests", "errors", "duration_us",
//!         "rps", "ok_rps", "p50_us", "p90_us", "p99_us"} as JSON, in the shape of the wrk hook.
//!     cargo run --release --example grpc_load -- body iris 1 /tmp/infer.bin
//!         body <model> <rows> <file>: write that ModelInfer request as a gRPC message (the
//!         5-byte length prefix, then the protobuf) for h2load, which sends a fixed body over as
//!         many connections as asked and costs the machine less per request than this client.
//!
//! The client runs on two tokio worker threads, as wrk runs on two threads: it shares the
//! machine's cores with the server under test the same way.

use std::time::{Duration, Instant};

use weir::api::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use weir::api::grpc::proto::model_infer_request::InferInputTensor;
use weir::api::grpc::proto::ModelInferRequest;

const USAGE: &str = "usage: grpc_load <addr> <model> <streams> <seconds> <rows>\n       \
                     grpc_load body <model> <rows> <file>";

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| format!("not a number: {s}\n{USAGE}"))
    };
    if let [cmd, model, rows, file] = args.as_slice() {
        if cmd == "body" {
            use prost::Message;
            let message = request(model, parse(rows)?.max(1)).encode_to_vec();
            let len = u32::try_from(message.len()).map_err(|e| e.to_string())?;
            let mut framed = vec![0u8]; // not compressed
            framed.extend(len.to_be_bytes());
            framed.extend(message);
            return std::fs::write(file, framed).map_err(|e| format!("{file}: {e}"));
        }
    }
    let [addr, model, streams, seconds, rows] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let (streams, seconds, rows) = (parse(streams)?, parse(seconds)?, parse(rows)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(run(
        addr,
        model,
        streams.max(1),
        seconds.max(1),
        rows.max(1),
    ))
}

async fn run(
    addr: &str,
    model: &str,
    streams: usize,
    seconds: usize,
    rows: usize,
) -> Result<(), String> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let request = request(model, rows);
    // One call first: a server that does not answer is an error, not a row of zeros.
    GrpcInferenceServiceClient::new(channel.clone())
        .model_infer(request.clone())
        .await
        .map_err(|e| format!("ModelInfer: {e}"))?;
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds as u64);
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let mut client = GrpcInferenceServiceClient::new(channel.clone());
            let request = request.clone();
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < until {
                    let sent = Instant::now();
                    match client.model_infer(request.clone()).await {
                        Ok(_) => latencies.push(sent.elapsed().as_micros() as u64),
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0u64);
    for t in tasks {
        let (l, e) = t.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let ok = latencies.len() as f64;
    println!(
        "{}",
        serde_json::json!({
            "requests": latencies.len() as u64 + errors, "errors": errors,
            "duration_us": (secs * 1e6) as u64, "rps": (ok + errors as f64) / secs,
            "ok_rps": ok / secs, "p50_us": pct(0.50), "p90_us": pct(0.90), "p99_us": pct(0.99),
            "streams": streams, "rows": rows,
        })
    );
    Ok(())
}

/// ModelInfer with `rows` × 4 FP32 values in `raw_input_contents`, as tritonclient sends them.
fn request(model: &str, rows: usize) -> ModelInferRequest {
    let values: Vec<f32> = (0..rows * 4).map(|i| 5.1 - (i % 4) as f32).collect();
    ModelInferRequest {
        model_name: model.to_owned(),
        inputs: vec![InferInputTensor {
            name: "X".into(),
            datatype: "FP32".into(),
            shape: vec![rows as i64, 4],
            ..Default::default()
        }],
        raw_input_contents: vec![values.iter().flat_map(|x| x.to_le_bytes()).collect()],
        ..Default::default()
    }
}

//! KServe's gRPC Open Inference Protocol on `weir models serve --grpc-port` (and `weir server
//! --serve-model --grpc-port`), through a tonic client generated from the same proto: every RPC,
//! raw and typed inputs, requested outputs, errors and their codes, the health service before
//! loading, while serving and at shutdown, and the answers the HTTP V2 routes give for the same
//! input.

mod common;

use std::time::{Duration, Instant};

use common::serving::close;
use common::{ServeProcess, ServerProcess};
use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use weir::api::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use weir::api::grpc::proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use weir::api::grpc::proto::{self as pb, infer_parameter::ParameterChoice, InferTensorContents};

const ROWS: [[f32; 4]; 2] = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]];

fn iris_model(name: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/models/").to_owned() + name
}

/// The gRPC address a process logged ("serving gRPC on <addr> ...").
fn grpc_addr(logs: &str) -> String {
    let line = logs
        .lines()
        .find(|l| l.contains("serving gRPC on "))
        .unwrap_or_else(|| panic!("no gRPC line in the log:\n{logs}"));
    let rest = &line[line.find("serving gRPC on ").unwrap() + "serving gRPC on ".len()..];
    rest.split_whitespace().next().unwrap().to_owned()
}

async fn channel(addr: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}

async fn health(ch: &Channel, service: &str) -> Result<i32, tonic::Status> {
    HealthClient::new(ch.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| r.into_inner().status)
}

fn flat_f32() -> Vec<f32> {
    ROWS.iter().flatten().copied().collect()
}

fn input(datatype: &str, contents: Option<InferTensorContents>) -> InferInputTensor {
    InferInputTensor {
        name: "X".into(),
        datatype: datatype.into(),
        shape: vec![2, 4],
        contents,
        ..Default::default()
    }
}

fn raw_request(model: &str) -> pb::ModelInferRequest {
    pb::ModelInferRequest {
        model_name: model.into(),
        id: "req-7".into(),
        inputs: vec![input("FP32", None)],
        raw_input_contents: vec![flat_f32().iter().flat_map(|x| x.to_le_bytes()).collect()],
        ..Default::default()
    }
}

/// A gRPC answer in the shape of the HTTP V2 JSON answer, its raw outputs decoded.
fn as_v2_json(r: &pb::ModelInferResponse) -> Value {
    assert_eq!(
        r.outputs.len(),
        r.raw_output_contents.len(),
        "one raw entry per output"
    );
    let outputs: Vec<Value> = r
        .outputs
        .iter()
        .zip(&r.raw_output_contents)
        .map(|(o, raw)| {
            assert!(o.contents.is_none(), "outputs go in raw_output_contents");
            let data: Vec<Value> = match o.datatype.as_str() {
                "FP32" => raw
                    .chunks_exact(4)
                    .map(|c| json!(f64::from(f32::from_le_bytes(c.try_into().unwrap()))))
                    .collect(),
                "INT64" => raw
                    .chunks_exact(8)
                    .map(|c| json!(i64::from_le_bytes(c.try_into().unwrap())))
                    .collect(),
                other => panic!("unexpected datatype {other}"),
            };
            let mut v =
                json!({"name": o.name, "datatype": o.datatype, "shape": o.shape, "data": data});
            if let Some(p) = o.parameters.get("classes") {
                let Some(ParameterChoice::StringParam(s)) = &p.parameter_choice else {
                    panic!("classes is a string parameter: {p:?}");
                };
                v["parameters"] = json!({"classes": serde_json::from_str::<Value>(s).unwrap()});
            }
            v
        })
        .collect();
    let mut v =
        json!({"model_name": r.model_name, "model_version": r.model_version, "outputs": outputs});
    if !r.id.is_empty() {
        v["id"] = json!(r.id);
    }
    v
}

/// Equal answers; numbers within 1e-12 (HTTP's JSON floats are read back by serde_json, which
/// may round the last bit).
fn same_answer(grpc: &Value, http: &Value) {
    assert!(close(grpc, http, 1e-12), "gRPC: {grpc}\nHTTP: {http}");
}

async fn http_infer(url: &str, model: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v2/models/{model}/infer"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn http_body(outputs: Option<&[&str]>) -> Value {
    let mut b = json!({"id": "req-7", "inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": flat_f32()}]});
    if let Some(o) = outputs {
        b["outputs"] = o.iter().map(|n| json!({"name": n})).collect();
    }
    b
}

fn start(args: &[&str]) -> (ServeProcess, String) {
    let mut all = vec!["--grpc-port", "0"];
    all.extend_from_slice(args);
    let p = ServeProcess::start(&all, &[]);
    let addr = grpc_addr(&p.log_text());
    (p, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_answers_as_http_v2_does() {
    let (p, addr) = start(&["-m", &iris_model("iris-rf")]);
    p.wait_ready().await;
    let ch = channel(&addr).await;
    let mut c = GrpcInferenceServiceClient::new(ch.clone());

    // Liveness, readiness, health.
    assert!(
        c.server_live(pb::ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
    assert!(
        c.server_ready(pb::ServerReadyRequest {})
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    for service in ["", "inference.GRPCInferenceService"] {
        assert_eq!(
            health(&ch, service).await.unwrap(),
            ServingStatus::Serving as i32
        );
    }
    assert_eq!(
        health(&ch, "nope").await.unwrap_err().code(),
        Code::NotFound
    );
    let ready = |name: &str, version: &str| pb::ModelReadyRequest {
        name: name.into(),
        version: version.into(),
    };
    assert!(
        c.model_ready(ready("iris-rf", ""))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    assert!(
        c.model_ready(ready("iris-rf", "local"))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    assert!(
        !c.model_ready(ready("iris-rf", "9"))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    let e = c.model_ready(ready("nope", "")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Metadata equals HTTP's.
    let meta = c
        .server_metadata(pb::ServerMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.name, "weir");
    assert_eq!(meta.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(meta.extensions, ["binary_tensor_data"]);
    let m = c
        .model_metadata(pb::ModelMetadataRequest {
            name: "iris-rf".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let io = |t: &[pb::model_metadata_response::TensorMetadata]| -> Vec<Value> {
        t.iter()
            .map(|t| json!({"name": t.name, "datatype": t.datatype, "shape": t.shape}))
            .collect()
    };
    let grpc_meta = json!({"name": m.name, "versions": m.versions, "platform": m.platform,
        "inputs": io(&m.inputs), "outputs": io(&m.outputs)});
    let http_meta: Value = reqwest::get(format!("{}/v2/models/iris-rf", p.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(grpc_meta, http_meta);
    let e = c
        .model_metadata(pb::ModelMetadataRequest {
            name: "iris-rf".into(),
            version: "9".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");

    // Raw FP32 in, INT64 labels and FP32 probabilities out, as HTTP answers them.
    let (status, http) = http_infer(&p.url, "iris-rf", http_body(None)).await;
    assert_eq!(status, 200, "{http}");
    let got = c
        .model_infer(raw_request("iris-rf"))
        .await
        .unwrap()
        .into_inner();
    same_answer(&as_v2_json(&got), &http);
    assert_eq!(got.outputs[0].datatype, "INT64");
    assert_eq!(got.model_version, "local");

    // Typed contents: FP32, and FP64 into the FP32 model.
    let mut typed = raw_request("iris-rf");
    typed.raw_input_contents.clear();
    typed.inputs = vec![input(
        "FP32",
        Some(InferTensorContents {
            fp32_contents: flat_f32(),
            ..Default::default()
        }),
    )];
    same_answer(
        &as_v2_json(&c.model_infer(typed.clone()).await.unwrap().into_inner()),
        &http,
    );
    typed.inputs = vec![input(
        "FP64",
        Some(InferTensorContents {
            fp64_contents: flat_f32().iter().map(|&x| f64::from(x)).collect(),
            ..Default::default()
        }),
    )];
    same_answer(
        &as_v2_json(&c.model_infer(typed).await.unwrap().into_inner()),
        &http,
    );

    // Requested outputs.
    let mut only = raw_request("iris-rf");
    only.outputs = vec![InferRequestedOutputTensor {
        name: "probabilities".into(),
        ..Default::default()
    }];
    let got = c.model_infer(only.clone()).await.unwrap().into_inner();
    let (_, http_only) = http_infer(&p.url, "iris-rf", http_body(Some(&["probabilities"]))).await;
    same_answer(&as_v2_json(&got), &http_only);
    assert_eq!(got.outputs.len(), 1);
    only.outputs[0].name = "nope".into();
    let e = c.model_infer(only).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let (status, http_err) = http_infer(&p.url, "iris-rf", http_body(Some(&["nope"]))).await;
    assert_eq!(status, 400);
    assert_eq!(e.message(), http_err["error"], "the same message as HTTP");

    // Unknown model, unknown version.
    let e = c.model_infer(raw_request("nope")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "Model with name nope does not exist.");
    let mut v = raw_request("iris-rf");
    v.model_version = "9".into();
    assert_eq!(c.model_infer(v).await.unwrap_err().code(), Code::NotFound);

    // A shape that does not fit the model: INVALID_ARGUMENT with HTTP's message.
    let mut bad = raw_request("iris-rf");
    bad.inputs[0].shape = vec![2, 3];
    bad.raw_input_contents = vec![[1f32; 6].iter().flat_map(|x| x.to_le_bytes()).collect()];
    let e = c.model_infer(bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let (status, http_err) = http_infer(
        &p.url,
        "iris-rf",
        json!({"inputs": [{"name": "X", "shape": [2, 3], "datatype": "FP32", "data": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e.message(), http_err["error"], "the same message as HTTP");

    // Malformed requests get INVALID_ARGUMENT and say why.
    let mut short = raw_request("iris-rf");
    short.raw_input_contents[0].truncate(10);
    let e = c.model_infer(short).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let mut none = raw_request("iris-rf");
    none.raw_input_contents.clear();
    let e = c.model_infer(none).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("no data"), "{e:?}");
    let mut extra = raw_request("iris-rf");
    extra.raw_input_contents.push(vec![0; 4]);
    let e = c.model_infer(extra).await.unwrap_err();
    assert!(
        e.message()
            .contains("raw_input_contents has 2 entries for 1 inputs"),
        "{e:?}"
    );
    let mut range = raw_request("iris-rf");
    range.raw_input_contents.clear();
    range.inputs = vec![input(
        "INT8",
        Some(InferTensorContents {
            int_contents: vec![1000; 8],
            ..Default::default()
        }),
    )];
    let e = c.model_infer(range).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("out of range for INT8"), "{e:?}");

    // The same Prometheus series as HTTP, under route grpc:ModelInfer.
    let metrics = reqwest::get(format!("{}/metrics", p.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        r#"weir_serving_requests_total{model="iris-rf",route="grpc:ModelInfer",status="OK",version="local"}"#,
        r#"weir_serving_requests_total{model="iris-rf",route="grpc:ModelInfer",status="INVALID_ARGUMENT",version="local"}"#,
        r#"weir_serving_requests_total{model="__unknown__",route="grpc:ModelInfer",status="NOT_FOUND",version=""} 1"#,
    ] {
        assert!(metrics.contains(want), "no {want} in\n{metrics}");
    }
    assert!(
        !metrics.contains(r#"model="nope""#),
        "unknown names are not labels"
    );

    // SIGTERM: health turns NOT_SERVING, an open Watch ends, and the process exits promptly.
    let mut watch = HealthClient::new(ch.clone())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let stopped = Instant::now();
    terminate(&p);
    let mut seen = Vec::new();
    while let Ok(Some(m)) = watch.message().await {
        seen.push(m.status);
    }
    assert_eq!(
        seen.last(),
        Some(&(ServingStatus::NotServing as i32)),
        "{seen:?}"
    );
    wait_exit(p, stopped).await;
}

fn terminate(p: &ServeProcess) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

async fn wait_exit(mut p: ServeProcess, since: Instant) {
    loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            assert!(status.success(), "{status}:\n{}", p.log_text());
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zipmap_outputs_carry_their_classes() {
    let (p, addr) = start(&["-m", &iris_model("iris-rf-zipmap")]);
    p.wait_ready().await;
    let mut c = GrpcInferenceServiceClient::new(channel(&addr).await);
    let got = c
        .model_infer(raw_request("iris-rf-zipmap"))
        .await
        .unwrap()
        .into_inner();
    let (status, http) = http_infer(&p.url, "iris-rf-zipmap", http_body(None)).await;
    assert_eq!(status, 200, "{http}");
    same_answer(&as_v2_json(&got), &http);
    let probs = &got.outputs[1];
    assert_eq!(
        (probs.datatype.as_str(), probs.shape.as_slice()),
        ("FP32", &[2, 3][..])
    );
    assert_eq!(
        probs.parameters["classes"].parameter_choice,
        Some(ParameterChoice::StringParam("[0, 1, 2]".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_loaded_and_bounded() {
    // A registry that cannot be reached: the model never loads.
    let (_p, addr) = start(&[
        "-m",
        "models:/iris@champion",
        "--tracking-uri",
        "http://127.0.0.1:1",
        "--max-body-bytes",
        "4096",
        "--header-read-timeout",
        "1",
    ]);
    let ch = channel(&addr).await;
    let mut c = GrpcInferenceServiceClient::new(ch.clone());
    assert!(
        c.server_live(pb::ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
    assert!(
        !c.server_ready(pb::ServerReadyRequest {})
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    for service in ["", "inference.GRPCInferenceService"] {
        assert_eq!(
            health(&ch, service).await.unwrap(),
            ServingStatus::NotServing as i32
        );
    }
    let r = c
        .model_ready(pb::ModelReadyRequest {
            name: "iris".into(),
            version: String::new(),
        })
        .await
        .unwrap();
    assert!(!r.into_inner().ready);
    let e = c.model_infer(raw_request("iris")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("is not ready"), "{e:?}");
    // A message above --max-body-bytes is refused before it reaches the service.
    let mut big = raw_request("iris");
    big.raw_input_contents = vec![vec![0; 8192]];
    let e = c.model_infer(big).await.unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    assert!(e.message().contains("4096"), "{e:?}");
    // A client that connects and never sends the HTTP/2 preface is cut (slowloris).
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt;
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {} // the server's SETTINGS
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a silent connection stayed open");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[test]
fn a_grpc_port_in_use_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "models",
            "serve",
            "-m",
            &iris_model("iris-rf"),
            "--port",
            "0",
        ])
        .args(["--grpc-port", &port, "--model-cache"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--grpc-port"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_server_serves_grpc_with_serve_model() {
    let model = iris_model("iris-rf");
    let s = ServerProcess::start(&["--serve-model", &model, "--grpc-port", "0"], &[]);
    let addr = grpc_addr(&s.log_text());
    let ch = channel(&addr).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while health(&ch, "").await.unwrap() != ServingStatus::Serving as i32 {
        assert!(
            Instant::now() < deadline,
            "never SERVING:\n{}",
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut c = GrpcInferenceServiceClient::new(ch);
    let got = c
        .model_infer(raw_request("iris-rf"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.outputs.len(), 2);
    let labels: Vec<i64> = got.raw_output_contents[0]
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(labels, [0, 2]);

    // Without a model to serve, --grpc-port is refused.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["server", "--port", "0", "--grpc-port", "0"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--serve-model"));
}

/// `--auth-token-file` guards gRPC inference too (the `authorization` metadata); the health
/// service stays open for probes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_inference_needs_the_token_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "grpc-token-42\n").unwrap();
    let (p, addr) = start(&[
        "-m",
        &iris_model("iris-rf"),
        "--auth-token-file",
        file.to_str().unwrap(),
    ]);
    p.wait_ready().await;
    let ch = channel(&addr).await;
    assert_eq!(
        health(&ch, "").await.unwrap(),
        ServingStatus::Serving as i32
    );
    let mut c = GrpcInferenceServiceClient::new(ch.clone());
    let err = c.model_infer(raw_request("iris-rf")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let mut wrong = tonic::Request::new(raw_request("iris-rf"));
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer grpc-token-4".parse().unwrap());
    assert_eq!(
        c.model_infer(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut right = tonic::Request::new(raw_request("iris-rf"));
    right
        .metadata_mut()
        .insert("authorization", "Bearer grpc-token-42".parse().unwrap());
    let answer = c.model_infer(right).await.unwrap().into_inner();
    assert_eq!(answer.model_name, "iris-rf");
}

//! Hostile traffic against a real `weir models serve` process: bodies built to blow up decoding,
//! too many rows, slow bodies, abandoned requests, label-cardinality floods on `/metrics`, and
//! credentials that must go only to the tracking server they belong to.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ServeProcess;
use serde_json::json;

fn iris() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/models/iris-rf").to_owned()
}

fn serve(extra: &[&str]) -> ServeProcess {
    let model = iris();
    let mut args = vec!["-m", model.as_str(), "--backend", "tract", "--workers", "2"];
    args.extend_from_slice(extra);
    ServeProcess::start(&args, &[])
}

/// Bodies made to make a decoder allocate or loop far beyond their size.
fn hostile_bodies(limit: usize) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    // Just under the body limit.
    let size = limit - 64;
    let csv = ",\n".repeat(size / 2).into_bytes();
    let mut json_flat = b"{\"inputs\": [".to_vec();
    while json_flat.len() < size {
        json_flat.extend_from_slice(b"0,");
    }
    json_flat.extend_from_slice(b"0]}");
    let mut nested = b"{\"instances\": ".to_vec();
    let depth = size / 4;
    nested.extend(std::iter::repeat_n(b'[', depth));
    let mut split = b"{\"dataframe_split\": {\"columns\": [\"a\"], \"data\": [".to_vec();
    while split.len() < size {
        split.extend_from_slice(b"[],");
    }
    split.extend_from_slice(b"[]]}}");
    let mut records = b"{\"dataframe_records\": [".to_vec();
    while records.len() < size {
        records.extend_from_slice(b"{\"a\":\"\"},");
    }
    records.extend_from_slice(b"{}]}");
    // Every record a new column: quadratic work and memory for a naive table builder.
    let mut columns = b"{\"dataframe_records\": [".to_vec();
    let mut i = 0u64;
    while columns.len() < size {
        columns.extend_from_slice(format!("{{\"c{i}\":0}},").as_bytes());
        i += 1;
    }
    columns.extend_from_slice(b"{}]}");
    vec![
        ("text/csv", "csv of ',\\n'", csv),
        ("application/json", "flat inputs", json_flat),
        ("application/json", "deep nesting", nested),
        ("application/json", "empty split rows", split),
        ("application/json", "records", records),
        ("application/json", "a new column per record", columns),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_bodies_stay_within_a_memory_bound() {
    let srv = serve(&["--max-body-bytes", "16777216"]);
    srv.wait_ready().await;
    let client = reqwest::Client::new();
    for (ct, what, body) in hostile_bodies(16 << 20) {
        let body = bytes::Bytes::from(body);
        // Reset the peak to the current size (clear_refs 5), so each case measures its own.
        std::fs::write(format!("/proc/{}/clear_refs", srv.child.id()), "5").unwrap();
        let (base_hwm, _) = srv.rss_kib();
        // Four at once, as the issue measured.
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (client, url, body) = (client.clone(), srv.url.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(format!("{url}/invocations"))
                    .header("content-type", ct)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap_or_default())
            }));
        }
        for t in tasks {
            let (st, text) = t.await.unwrap();
            assert!((400..500).contains(&st), "{what}: {st} {text:.300}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} took {:?}",
            started.elapsed()
        );
        let (_, hwm) = srv.rss_kib();
        let grew_mib = hwm.saturating_sub(base_hwm) / 1024;
        println!("{what}: peak RSS grew by {grew_mib} MiB for 4 x 16 MiB bodies");
        // The bodies themselves are 64 MiB. Decoding adds at most --max-rows rows of the model's
        // values per request (100,000 x 5 for iris, 32 bytes each, growing by doubling):
        // about 100 MiB for four. Measured: 100-120 MiB in all; the bound leaves room for
        // allocator timing under a loaded machine.
        assert!(
            grew_mib < 4 * 64,
            "{what}: peak RSS grew by {grew_mib} MiB for 4 x 16 MiB bodies"
        );
    }
    // Still serving.
    let r = client
        .post(format!("{}/invocations", srv.url))
        .json(&json!({"inputs": [[5.1, 3.5, 1.4, 0.2]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn rows_are_capped() {
    let srv = serve(&["--max-rows", "10"]);
    srv.wait_ready().await;
    let client = reqwest::Client::new();
    let row = [5.1, 3.5, 1.4, 0.2];
    let ok = json!({"inputs": vec![row; 10]});
    let r = client
        .post(format!("{}/invocations", srv.url))
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csv = "5.1,3.5,1.4,0.2\n".repeat(11);
    for (ct, body) in [
        (
            "application/json",
            json!({"inputs": vec![row; 11]}).to_string(),
        ),
        (
            "application/json",
            json!({"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": vec![row; 11]}})
                .to_string(),
        ),
        ("text/csv", csv),
    ] {
        let r = client
            .post(format!("{}/invocations", srv.url))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let text = r.text().await.unwrap();
        assert!(text.contains("--max-rows"), "{text}");
    }
    let r = client
        .post(format!("{}/v2/models/iris-rf/infer", srv.url))
        .json(&json!({"inputs": [{"name": "X", "shape": [11, 4], "datatype": "FP32", "data": vec![row; 11]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("--max-rows"));
}

#[tokio::test]
async fn a_stalled_body_times_out_with_504() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = serve(&["--request-timeout", "1"]);
    srv.wait_ready().await;
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(
        b"POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"inputs\": [",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("no answer to a stalled body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abandoned_requests_stop_using_cpu() {
    use tokio::io::AsyncWriteExt;
    let srv = serve(&["--max-body-bytes", "16777216"]);
    srv.wait_ready().await;
    for (ct, _, body) in hostile_bodies(16 << 20) {
        let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        let head = format!(
            "POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
        drop(s); // the client leaves before the answer
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = srv.cpu_ticks();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = srv.cpu_ticks() - before;
    // Clock ticks are 1/100 s: an idle server uses next to none.
    assert!(
        used < 20,
        "{used} ticks of CPU in 2 s after every client left"
    );
    // And it is still there to say so.
    let r = reqwest::get(format!("{}/health", srv.url)).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_model_names_do_not_grow_metrics() {
    let srv = serve(&[]);
    srv.wait_ready().await;
    let client = reqwest::Client::new();
    let base = client
        .get(format!("{}/metrics", srv.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .len();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, url, next) = (client.clone(), srv.url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 40_000 {
                    break;
                }
                let path = match i % 4 {
                    0 => format!("/v2/models/m{i}/infer"),
                    1 => format!("/v2/models/m{i}/versions/{i}/infer"),
                    2 => format!("/v1/models/m{i}:predict"),
                    _ => format!("/models/m{i}/invocations"),
                };
                let r = client
                    .post(format!("{url}{path}"))
                    .json(&json!({"inputs": []}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 404);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = client
        .get(format!("{}/metrics", srv.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!(
        "/metrics: {base} bytes before, {} bytes after 40,000 requests for unknown models",
        after.len()
    );
    assert!(after.len() < base + 16 * 1024, "{} bytes", after.len());
    assert!(!after.contains("m39999"));
}

// ---- Credentials go only to the tracking server's own origin ----

/// Each request's target and Authorization header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A tiny HTTP server recording the Authorization header of every request.
struct Recorder {
    addr: std::net::SocketAddr,
    seen: Seen,
}

async fn recorder(answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static) -> Recorder {
    use axum::extract::Request;
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    let answer = Arc::new(answer);
    let app = axum::Router::new().fallback(move |req: Request| {
        let keep = keep.clone();
        let answer = answer.clone();
        async move {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let target = req.uri().to_string();
            keep.lock().unwrap().push((target.clone(), auth));
            let (st, body) = answer(&target);
            (
                axum::http::StatusCode::from_u16(st).unwrap(),
                [("content-type", "application/json")],
                body,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Recorder { addr, seen }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_only_to_the_tracking_server() {
    // The artifact host another origin names: it must never see the tracking credentials.
    let elsewhere = recorder(|_| (200, json!({"files": []}).to_string())).await;
    let other = format!(
        "http://{}/api/2.0/mlflow-artifacts/artifacts/stolen",
        elsewhere.addr
    );
    let tracking = recorder(move |target| {
        if target.starts_with("/api/2.0/weir/models/resolve") {
            (
                200,
                json!({"name": "iris", "version": "1", "artifact_uri": other}).to_string(),
            )
        } else {
            (
                404,
                json!({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}).to_string(),
            )
        }
    })
    .await;
    let tracking_uri = format!("http://{}", tracking.addr);
    for env in [
        vec![("MLFLOW_TRACKING_TOKEN", "tok-123")],
        vec![
            ("MLFLOW_TRACKING_USERNAME", "alice"),
            ("MLFLOW_TRACKING_PASSWORD", "pw-456"),
        ],
    ] {
        let srv = ServeProcess::start(
            &[
                "-m",
                "models:/iris@champion",
                "--tracking-uri",
                &tracking_uri,
            ],
            &env,
        );
        for _ in 0..100 {
            if !elsewhere.seen.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(srv);
    }
    let to_tracking = tracking.seen.lock().unwrap().clone();
    assert!(
        to_tracking.iter().any(|(_, a)| a.is_some()),
        "the tracking server gets the credentials: {to_tracking:?}"
    );
    let to_other = elsewhere.seen.lock().unwrap().clone();
    assert!(!to_other.is_empty(), "the test must reach the other host");
    assert!(
        to_other.iter().all(|(_, a)| a.is_none()),
        "credentials leaked to another origin: {to_other:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_uri_passwords_are_redacted() {
    let tracking = recorder(|_| {
        (
            503,
            json!({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "down"}).to_string(),
        )
    })
    .await;
    let uri = format!("http://alice:hunter2-pw@{}", tracking.addr);
    let srv = ServeProcess::start(
        &["-m", "models:/iris@champion", "--tracking-uri", &uri],
        &[],
    );
    let client = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for path in [
        "/ping",
        "/health",
        "/ajax-api/2.0/weir/served-models",
        "/v2/health/ready",
    ] {
        let text = client
            .get(format!("{}{path}", srv.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains("hunter2"), "{path}: {text}");
    }
    let seen = tracking.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(_, a)| a.as_deref().is_some_and(|a| a.starts_with("Basic "))),
        "the URI's credentials are still used, as basic auth: {seen:?}"
    );
    drop(client);
    let logs = srv.log_text();
    assert!(!logs.contains("hunter2"), "{logs}");
}

/// `--auth-token-file`: scoring needs `Authorization: Bearer <token>`, answered 401 in each
/// protocol's shape without it; probes and metrics stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_token_guards_scoring_but_not_probes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "  serve-token-0123456789\n").unwrap();
    let srv = serve(&["--auth-token-file", file.to_str().unwrap()]);
    // Readiness is open: the pod needs no secret for its probes.
    srv.wait_ready().await;
    let client = reqwest::Client::new();
    for path in [
        "/ping",
        "/health",
        "/version",
        "/metrics",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/iris-rf/ready",
    ] {
        let r = client
            .get(format!("{}{path}", srv.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let row = json!({"inputs": [[5.1, 3.5, 1.4, 0.2]]});
    let v2 = json!({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer serve-token-012345678"),
        Some("Basic serve-token-0123456789"),
    ] {
        let mut r = client.post(format!("{}/invocations", srv.url)).json(&row);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error_code"], "UNAUTHENTICATED", "{body}");
        assert!(body["message"].as_str().unwrap().contains("Bearer"));
        let mut r = client
            .post(format!("{}/v2/models/iris-rf/infer", srv.url))
            .json(&v2);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "KServe's shape: {body}");
    }
    for path in ["/v1/models", "/v2/models/iris-rf", "/v2"] {
        let r = client
            .get(format!("{}{path}", srv.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let bearer = "Bearer serve-token-0123456789";
    let r = client
        .post(format!("{}/invocations", srv.url))
        .header("authorization", bearer)
        .json(&row)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{}/v2/models/iris-rf/infer", srv.url))
        .header("authorization", bearer)
        .json(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // The token never reaches the log.
    assert!(!srv.log_text().contains("serve-token-0123456789"));
}

#[test]
fn an_empty_or_missing_token_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    for file in [empty, dir.path().join("missing")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
            .args([
                "models",
                "serve",
                "--port",
                "0",
                "-m",
                &iris(),
                "--auth-token-file",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--auth-token-file"), "{err}");
    }
}

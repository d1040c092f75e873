//! `weir models serve` as a process: the flags a Deployment or a KServe predictor uses.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A child process killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `weir models serve <args> --port 0` and return the child and its URL.
fn serve(args: &[&str]) -> (Child, String) {
    let models = concat!(env!("CARGO_MANIFEST_DIR"), "/models/iris-rf");
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "models",
            "serve",
            "-m",
            models,
            "--port",
            "0",
            "--backend",
            "tract",
            "--model-cache",
        ])
        .arg(cache.path())
        .args(args)
        .env("WEIR_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn weir");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("serving on http://") {
                let url: String = line[i + "serving on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let _ = tx.send(url);
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("weir models serve did not start");
    (Child(child), url)
}

async fn ready(client: &reqwest::Client, url: &str) -> bool {
    for _ in 0..200 {
        if client
            .get(url)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn model_name_sets_the_kserve_name() {
    let (_child, url) = serve(&["--model-name", "iris-classifier"]);
    let client = reqwest::Client::new();
    assert!(ready(&client, &format!("{url}/v2/models/iris-classifier/ready")).await);
    let r = client
        .get(format!("{url}/v2/models/iris-rf/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "the directory name is no longer the model's name"
    );
    let r = client
        .post(format!("{url}/v2/models/iris-classifier/infer"))
        .json(&serde_json::json!({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

#[test]
fn a_bad_model_name_is_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "models",
            "serve",
            "-m",
            "models/iris-rf",
            "--model-name",
            "no/slashes",
            "--port",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--model-name"));
}

#[tokio::test]
async fn several_models_in_one_process() {
    let other = concat!(env!("CARGO_MANIFEST_DIR"), "/models/diabetes-rf-regressor");
    let third = concat!(env!("CARGO_MANIFEST_DIR"), "/models/iris-logreg");
    let spec = format!("logreg={third}");
    // The regressor's tree ensemble needs ONNX Runtime (tract lacks the operator).
    let (_child, url) = serve(&["-m", other, "-m", &spec, "--backend", "ort"]);
    let client = reqwest::Client::new();
    assert!(ready(&client, &format!("{url}/v2/health/ready")).await);
    let listing: serde_json::Value = client
        .get(format!("{url}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listing,
        serde_json::json!({"models": ["iris-rf", "diabetes-rf-regressor", "logreg"]})
    );
    let iris = serde_json::json!({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    for name in ["iris-rf", "logreg"] {
        let r = client
            .post(format!("{url}/v2/models/{name}/infer"))
            .json(&iris)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["model_name"], name);
        assert_eq!(body["outputs"][0]["data"], serde_json::json!([0]), "{name}");
        let r = client
            .post(format!("{url}/models/{name}/invocations"))
            .json(&serde_json::json!({"inputs": [[5.1, 3.5, 1.4, 0.2]]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
    }
    let meta: serde_json::Value = client
        .get(format!("{url}/v2/models/diabetes-rf-regressor"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["inputs"][0]["shape"], serde_json::json!([-1, 10]));
    // The unnamed route cannot choose among several models: it says where to go.
    let r = client
        .post(format!("{url}/invocations"))
        .json(&serde_json::json!({"inputs": [[5.1, 3.5, 1.4, 0.2]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("/models/logreg/invocations"), "{text}");
}

#[test]
fn two_models_under_one_name_are_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "models",
            "serve",
            "-m",
            "a=models/iris-rf",
            "-m",
            "a=models/iris-logreg",
            "--port",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("would both be served as 'a'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// SIGTERM under load at 32 connections: readiness turns 503 at once, every request sent during
/// `--shutdown-delay` is answered (with `Connection: close`), then the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_request() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let (mut child, url) = serve(&["--shutdown-delay", "3", "--shutdown-timeout", "5"]);
    let client = reqwest::Client::new();
    assert!(ready(&client, &format!("{url}/health")).await);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let closing = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, url) = (client.clone(), url.clone());
        let (stop, ok, closing, failed) =
            (stop.clone(), ok.clone(), closing.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = client
                    .post(format!("{url}/invocations"))
                    .json(&serde_json::json!({"inputs": [[5.1, 3.5, 1.4, 0.2]]}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        if r.headers().get("connection").is_some_and(|v| v == "close") {
                            closing.fetch_add(1, Ordering::Relaxed);
                        }
                        ok.fetch_add(1, Ordering::Relaxed);
                        let _ = r.bytes().await;
                    }
                    Ok(r) => failed
                        .lock()
                        .unwrap()
                        .push(format!("status {}", r.status())),
                    Err(e) => failed.lock().unwrap().push(format!("{e:?}")),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = ok.load(Ordering::Relaxed);
    let pid = child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let signalled = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = client.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(health.status(), 503, "readiness turns 503 at SIGTERM");
    // Load goes on for half the delay: all of it must be answered.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let failed = failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "{} failed requests: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(
        ok.load(Ordering::Relaxed) > before,
        "requests were answered during the drain"
    );
    assert!(
        closing.load(Ordering::Relaxed) > 0,
        "drain answers carry Connection: close"
    );
    // Then the listener closes and the process exits.
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(15),
            "weir did not exit after the drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "the listener stayed open for the delay"
    );
}

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

//! The artifact proxy against a real `weir server` process: traversal of every kind refused,
//! symlinks out of the destination refused, interrupted uploads leave nothing behind, and a
//! 1 GB upload and download stream without growing the server's memory.

mod common;

use std::time::Duration;

use common::ServerProcess;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Send raw bytes (no client-side URL normalisation) and return (status, body).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn request(method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn traversal_of_every_kind_is_refused() {
    let srv = ServerProcess::start(&[], &[]);
    let art = srv.dir.path().join("artifacts");
    // A legitimate file first.
    let (st, _) = raw(
        srv.addr,
        &request(
            "PUT",
            "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/ok.txt",
            "hello",
        ),
    )
    .await;
    assert_eq!(st, 200);

    let evil = [
        "1/../../etc/passwd",
        "../escape.txt",
        "1/r/../../../escape.txt",
        "%2e%2e/%2e%2e/etc/passwd",
        "%2E%2E/escape.txt",
        "..%2fescape.txt",
        "1%2f..%2f..%2fescape.txt",
        "%252e%252e/escape.txt",
        "%252e%252e%252fescape.txt",
        "a%00b",
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "1/r/artifacts/..%5C..%5Cescape.txt",
        ".weir-tmp/x",
    ];
    for p in evil {
        for method in ["GET", "PUT", "DELETE"] {
            let (st, body) = raw(
                srv.addr,
                &request(
                    method,
                    &format!("/api/2.0/mlflow-artifacts/artifacts/{p}"),
                    "x",
                ),
            )
            .await;
            assert!(st == 400 || st == 404, "{method} {p}: {st} {body}");
            if st == 400 {
                assert!(
                    body.contains("INVALID_PARAMETER_VALUE"),
                    "{method} {p}: {body}"
                );
            }
        }
        let (st, body) = raw(
            srv.addr,
            &request(
                "GET",
                &format!("/api/2.0/mlflow-artifacts/artifacts?path={p}"),
                "",
            ),
        )
        .await;
        assert_eq!(st, 400, "list {p}: {body}");
        let (st, _) = raw(
            srv.addr,
            &request(
                "POST",
                &format!("/api/2.0/mlflow-artifacts/mpu/create/{p}"),
                r#"{"path": "x.bin", "num_parts": 1}"#,
            ),
        )
        .await;
        assert!(st == 400 || st == 404, "mpu create {p}: {st}");
        let (st, _) = raw(
            srv.addr,
            &request(
                "PUT",
                &format!("/api/2.0/mlflow-artifacts/mpu/part?path={p}&upload_id=abc&part_number=1"),
                "x",
            ),
        )
        .await;
        assert_eq!(st, 400, "mpu part {p}");
    }
    // The multipart body's path is reduced to its file name.
    let (st, body) = raw(
        srv.addr,
        &request(
            "POST",
            "/api/2.0/mlflow-artifacts/mpu/create/1/r/artifacts",
            r#"{"path": "/tmp/../../escape.bin", "num_parts": 1}"#,
        ),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("path=1%2Fr%2Fartifacts%2Fescape%2Ebin"),
        "{body}"
    );

    // Nothing escaped the destination, and the legitimate file is intact.
    assert!(!srv.dir.path().join("escape.txt").exists());
    assert!(!art.parent().unwrap().join("escape.txt").exists());
    assert_eq!(
        std::fs::read_to_string(art.join("1/r/artifacts/ok.txt")).unwrap(),
        "hello"
    );
}

#[tokio::test]
async fn symlinks_leading_out_are_refused() {
    let srv = ServerProcess::start(&[], &[]);
    let art = srv.dir.path().join("artifacts");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    std::fs::create_dir_all(art.join("1")).unwrap();
    std::os::unix::fs::symlink(outside.path(), art.join("1/link")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), art.join("1/file-link")).unwrap();

    for (method, path) in [
        (
            "GET",
            "/api/2.0/mlflow-artifacts/artifacts/1/link/secret.txt",
        ),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/1/file-link"),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/link/new.txt"),
        (
            "DELETE",
            "/api/2.0/mlflow-artifacts/artifacts/1/link/secret.txt",
        ),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=1/link"),
    ] {
        let (st, body) = raw(srv.addr, &request(method, path, "x")).await;
        assert_eq!(st, 400, "{method} {path}: {body}");
    }
    // Listing the parent hides the escaping links.
    let (st, body) = raw(
        srv.addr,
        &request("GET", "/api/2.0/mlflow-artifacts/artifacts?path=1", ""),
    )
    .await;
    assert_eq!(st, 200);
    assert!(!body.contains("link"), "{body}");
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
        "secret"
    );
    assert!(!outside.path().join("new.txt").exists());
}

#[tokio::test]
async fn an_interrupted_upload_leaves_no_file() {
    let srv = ServerProcess::start(&[], &[]);
    let art = srv.dir.path().join("artifacts");
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let head =
        "PUT /api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/big.bin HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![7u8; 1_000_000]).await.unwrap();
    drop(s); // the client dies mid-body
             // The server notices and cleans up; poll until the temporary file is gone.
    let tmp = art.join(".weir-tmp");
    for _ in 0..100 {
        let left = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !art.join("1/r/artifacts/big.bin").exists(),
        "no partial file under the final name"
    );
    assert_eq!(
        std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0),
        0,
        "temporary file removed"
    );
    let (st, body) = raw(
        srv.addr,
        &request(
            "GET",
            "/api/2.0/mlflow-artifacts/artifacts?path=1/r/artifacts",
            "",
        ),
    )
    .await;
    assert_eq!((st, body.as_str()), (200, "{}"));
}

/// Upload and download `size` bytes through the proxy; return the server's peak RSS growth in MiB.
async fn stream_gigabyte(srv: &ServerProcess, size: u64) -> u64 {
    const CHUNK: usize = 1 << 20;
    let (_, base_hwm) = srv.rss_kib();
    let chunks = size / CHUNK as u64;
    let body = futures::stream::iter(0..chunks)
        .map(|i| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![(i % 251) as u8; CHUNK])));
    let client = reqwest::Client::new();
    let url = format!(
        "{}/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/huge.bin",
        srv.url
    );
    let resp = client
        .put(&url)
        .header("content-length", size.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), Some(size));
    let mut stream = resp.bytes_stream();
    let mut got = 0u64;
    let mut first_byte_of_chunk_ok = true;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        let idx = got / CHUNK as u64;
        if got % CHUNK as u64 == 0 && !chunk.is_empty() {
            first_byte_of_chunk_ok &= chunk[0] == (idx % 251) as u8;
        }
        got += chunk.len() as u64;
    }
    assert_eq!(got, size);
    assert!(first_byte_of_chunk_ok, "content round-trips");
    let (_, hwm) = srv.rss_kib();
    hwm.saturating_sub(base_hwm) / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_streams_in_bounded_memory_local() {
    let srv = ServerProcess::start(&[], &[]);
    let grew = stream_gigabyte(&srv, 1 << 30).await;
    eprintln!("local destination: peak RSS grew {grew} MiB for a 1 GiB upload + download");
    assert!(grew < 64, "peak RSS grew {grew} MiB");
}

/// Runs when scripts/test.sh provides an S3-compatible server (SeaweedFS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_streams_in_bounded_memory_s3() {
    let Ok(endpoint) = std::env::var("WEIR_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("WEIR_REQUIRE_S3").is_err(),
            "WEIR_REQUIRE_S3 is set but WEIR_TEST_S3_ENDPOINT is not"
        );
        eprintln!("skipped: no S3 server (scripts/test.sh starts one)");
        return;
    };
    let bucket = std::env::var("WEIR_TEST_S3_BUCKET").unwrap_or_else(|_| "weir-test".into());
    let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default();
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    let dest = format!("s3://{bucket}/rust-{}", uuid::Uuid::new_v4().simple());
    let srv = ServerProcess::start(
        &["--artifacts-destination", &dest],
        &[
            ("MLFLOW_S3_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", &key),
            ("AWS_SECRET_ACCESS_KEY", &secret),
        ],
    );
    let grew = stream_gigabyte(&srv, 1 << 30).await;
    eprintln!("S3 destination: peak RSS grew {grew} MiB for a 1 GiB upload + download");
    assert!(grew < 64, "peak RSS grew {grew} MiB");
}

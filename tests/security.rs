//! Hostile input against a real `weir server` process, one test per attack (SECURITY.md lists
//! them): host files read through a model version's source or an experiment's artifact location,
//! an upload id that wipes the artifact destination, DNS rebinding and cross-origin requests,
//! spoofed forwarding headers, amplification through bulk metric endpoints and huge filters,
//! slow or idle connections, and a database that is away. Where a store is involved the test
//! runs on SQLite and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::{http_request, raw_http, ServerProcess};
use serde_json::{json, Value};

/// A server on `backend`, with extra flags; the PostgreSQL database is dropped by the caller.
async fn server(backend: &str, args: &[&str]) -> (ServerProcess, Option<String>) {
    match backend {
        "postgres" => {
            let (uri, db) = common::create_pg_database().await;
            let mut all = vec!["--backend-store-uri", uri.as_str()];
            all.extend_from_slice(args);
            (ServerProcess::start(&all, &[]), Some(db))
        }
        _ => (ServerProcess::start(args, &[]), None),
    }
}

async fn done(db: Option<String>) {
    if let Some(db) = db {
        common::drop_pg_database(&db).await;
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(srv: &ServerProcess) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: srv.url.clone(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/2.0/mlflow/{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        (st, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path_and_query: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        (st, r.text().await.unwrap_or_default())
    }

    async fn run(&self, experiment_id: &str) -> (String, String) {
        let (st, r) = self
            .post("runs/create", json!({"experiment_id": experiment_id}))
            .await;
        assert_eq!(st, 200, "{r}");
        (
            r["run"]["info"]["run_id"].as_str().unwrap().to_owned(),
            r["run"]["info"]["artifact_uri"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }
}

// ---- 1. Host files through a version's source or an experiment's artifact location ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_sources_cannot_reach_host_files() {
    for backend in common::backends() {
        // Local artifact root, so runs have file:// locations the server itself reads.
        let (srv, db) = server(backend, &["--no-serve-artifacts"]).await;
        let c = Client::new(&srv);
        assert_eq!(
            c.post("registered-models/create", json!({"name": "m"}))
                .await
                .0,
            200
        );
        let (run_id, artifact_uri) = c.run("0").await;

        for (source, run) in [
            ("file:///etc", Some(run_id.as_str())),
            ("/etc", Some(run_id.as_str())),
            ("file:///", None),
            ("/", None),
            ("file:///etc/passwd", None),
            (
                &format!("{artifact_uri}/../../../../../etc") as &str,
                Some(run_id.as_str()),
            ),
            ("mlflow-artifacts:/../../etc", None),
            (
                "mlflow-artifacts:/models/..%2f..%2fetc",
                Some(run_id.as_str()),
            ),
            ("s3://bucket/models/../../other", None),
            (
                "http://attacker.example/api/2.0/mlflow-artifacts/artifacts/x",
                None,
            ),
        ] {
            let mut body = json!({"name": "m", "source": source});
            if let Some(r) = run {
                body["run_id"] = json!(r);
            }
            let (st, r) = c.post("model-versions/create", body).await;
            assert_eq!(st, 400, "{backend}: source {source:?} must be refused: {r}");
            assert_eq!(r["error_code"], "INVALID_PARAMETER_VALUE", "{r}");
            assert!(
                r["message"]
                    .as_str()
                    .unwrap()
                    .contains("Invalid model version source")
                    || r["message"]
                        .as_str()
                        .unwrap()
                        .contains("'source' cannot use"),
                "{r}"
            );
        }
        // A source inside the run's own artifacts is fine, and its files read back; a path that
        // climbs out of the version's root does not.
        let model_dir = format!("{}/model", artifact_uri.trim_start_matches("file://"));
        std::fs::create_dir_all(&model_dir).unwrap();
        std::fs::write(format!("{model_dir}/MLmodel"), "flavors: {}\n").unwrap();
        let (st, r) = c
            .post(
                "model-versions/create",
                json!({"name": "m", "source": format!("{artifact_uri}/model"), "run_id": run_id}),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        let v = r["model_version"]["version"].as_str().unwrap().to_owned();
        let (st, text) = c
            .get(&format!(
                "/model-versions/get-artifact?name=m&version={v}&path=MLmodel"
            ))
            .await;
        assert_eq!((st, text.as_str()), (200, "flavors: {}\n"));
        for path in [
            "../../../../../../etc/passwd",
            "%2e%2e/%2e%2e/etc/passwd",
            "/etc/passwd",
        ] {
            let (st, text) = c
                .get(&format!(
                    "/model-versions/get-artifact?name=m&version={v}&path={path}"
                ))
                .await;
            assert_eq!(st, 400, "{backend} {path}: {text}");
            assert!(!text.contains("root:"), "{text}");
        }
        // An experiment whose artifact location is the host's /etc: the location may be stored
        // (MLflow accepts any local path), but the server never reads it.
        let (st, r) = c
            .post(
                "experiments/create",
                json!({"name": "etc", "artifact_location": "file:///etc"}),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        let exp = r["experiment_id"].as_str().unwrap().to_owned();
        let (etc_run, etc_uri) = c.run(&exp).await;
        assert_eq!(etc_uri, format!("file:///etc/{etc_run}/artifacts"));
        let (st, r) = c
            .post(
                "experiments/create",
                json!({"name": "root", "artifact_location": "/"}),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        let (root_run, _) = c.run(r["experiment_id"].as_str().unwrap()).await;
        for (run, path) in [(&etc_run, "../../passwd"), (&root_run, "../../etc/passwd")] {
            let (st, text) = c
                .get(&format!("/get-artifact?run_uuid={run}&path={path}"))
                .await;
            assert!(st == 400 || st == 403, "{backend}: {st} {text}");
            assert!(!text.contains("root:"), "{text}");
        }
        for run in [&etc_run, &root_run] {
            let (st, text) = c
                .get(&format!(
                    "/api/2.0/mlflow/artifacts/list?run_id={run}&path=..%2F.."
                ))
                .await;
            assert!(st == 400 || st == 403, "{backend}: {st} {text}");
            assert!(!text.contains("passwd"), "{text}");
        }
        drop(srv);
        done(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_source_outside_the_artifact_roots_is_not_read() {
    // A version registered before this fix (or written to the database directly) still cannot
    // serve host files: the location is checked again when read.
    let srv = ServerProcess::start(&[], &[]);
    let c = Client::new(&srv);
    assert_eq!(
        c.post("registered-models/create", json!({"name": "old"}))
            .await
            .0,
        200
    );
    let (run_id, _) = c.run("0").await;
    let (st, r) = c
        .post(
            "model-versions/create",
            json!({"name": "old", "source": format!("runs:/{run_id}/model"), "run_id": run_id}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    let db = srv.dir.path().join("mlflow.db");
    let conn = format!("sqlite://{}", db.display());
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&conn).await.unwrap();
    sqlx::query("UPDATE model_versions SET source = 'file:///', storage_location = 'file:///'")
        .execute(&mut conn)
        .await
        .unwrap();
    for path in ["etc/passwd", "proc/self/environ"] {
        let (st, text) = c
            .get(&format!(
                "/model-versions/get-artifact?name=old&version=1&path={path}"
            ))
            .await;
        assert!(st == 400 || st == 403, "{st} {text}");
        assert!(!text.contains("root:"), "{text}");
    }
    let (st, text) = c
        .get("/api/2.0/mlflow/model-versions/get-download-uri?name=old&version=1")
        .await;
    assert_eq!(st, 200, "{text}");
    let (st, text) = c
        .get("/api/2.0/weir/models/resolve?model_uri=models:/old/1")
        .await;
    assert!(st == 400 || st == 403, "{st} {text}");
}

// ---- 2. upload_id ".." ----

#[tokio::test]
async fn a_dotdot_upload_id_cannot_delete_the_destination() {
    let srv = ServerProcess::start(&[], &[]);
    let art = srv.dir.path().join("artifacts");
    let put = http_request(
        "PUT",
        "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/keep.txt",
        &[],
        "precious",
    );
    assert_eq!(raw_http(srv.addr, &put).await.0, 200);
    for id in ["..", ".", "../..", "a/../..", "%2e%2e", "", "x.y", "ABCDEF"] {
        for verb in ["abort", "complete"] {
            let body = json!({
                "path": "f.bin",
                "upload_id": id,
                "parts": [{"part_number": 1, "etag": "x"}],
            })
            .to_string();
            let (st, text) = raw_http(
                srv.addr,
                &http_request(
                    "POST",
                    &format!("/api/2.0/mlflow-artifacts/mpu/{verb}/1/r/artifacts"),
                    &[],
                    &body,
                ),
            )
            .await;
            assert!(st == 400 || st == 404, "{verb} {id:?}: {text}");
            assert_eq!(
                std::fs::read_to_string(art.join("1/r/artifacts/keep.txt")).unwrap(),
                "precious",
                "{verb} with upload_id {id:?} deleted the destination"
            );
        }
        let (st, _) = raw_http(
            srv.addr,
            &http_request(
                "PUT",
                &format!("/api/2.0/mlflow-artifacts/mpu/part?path=1/r/artifacts/f.bin&upload_id={id}&part_number=1"),
                &[],
                "x",
            ),
        )
        .await;
        assert!(st == 400 || st == 404, "part {id:?}: {st}");
    }
    assert!(art.join("1/r/artifacts/keep.txt").exists());
}

// ---- 3. DNS rebinding, cross-origin requests, security headers ----

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let srv = ServerProcess::start(&[], &[]);
    let port = srv.addr.port();
    let search = |host: String, extra: Vec<String>| {
        let mut headers = vec![format!("Host: {host}")];
        headers.extend(extra);
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        http_request("POST", "/api/2.0/mlflow/experiments/search", &refs, "{}")
    };
    // A page on another domain that resolves to 127.0.0.1 sends its own name as Host.
    for host in [
        "attacker.example".to_owned(),
        format!("attacker.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        String::new(),
    ] {
        let (st, text) = raw_http(srv.addr, &search(host.clone(), vec![])).await;
        assert_eq!(st, 403, "Host {host:?}: {text}");
        assert!(text.contains("--allowed-hosts"), "{text}");
        let ui = http_request("GET", "/", &[&format!("Host: {host}")], "");
        assert_eq!(
            raw_http(srv.addr, &ui).await.0,
            403,
            "UI with Host {host:?}"
        );
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "localhost".to_owned(),
        format!("[::1]:{port}"),
        format!("10.0.3.7:{port}"),
        format!("192.168.1.20:{port}"),
        format!("172.20.0.5:{port}"),
    ] {
        let (st, text) = raw_http(srv.addr, &search(host.clone(), vec![])).await;
        assert_eq!(st, 200, "Host {host:?}: {text}");
    }
    // Probes come with whatever Host the kubelet uses.
    let probe = http_request("GET", "/health", &["Host: 10.244.1.17:5000"], "");
    assert_eq!(raw_http(srv.addr, &probe).await.0, 200);
    let probe = http_request("GET", "/health", &["Host: anything.example"], "");
    assert_eq!(raw_http(srv.addr, &probe).await.0, 200);

    // A state-changing request from another origin is refused; same-origin passes.
    let (st, text) = raw_http(
        srv.addr,
        &search(
            format!("localhost:{port}"),
            vec!["Origin: https://attacker.example".into()],
        ),
    )
    .await;
    assert_eq!(st, 403, "{text}");
    assert!(text.contains("Cross-origin request blocked"), "{text}");
    let create = |origin: &str| {
        http_request(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            &[
                &format!("Host: localhost:{port}"),
                &format!("Origin: {origin}"),
            ],
            r#"{"name": "from-a-page"}"#,
        )
    };
    let (st, _) = raw_http(srv.addr, &create("https://attacker.example")).await;
    assert_eq!(st, 403);
    let (st, text) = raw_http(srv.addr, &create(&format!("http://localhost:{port}"))).await;
    assert_eq!(st, 200, "same origin: {text}");
    let c = Client::new(&srv);
    let (_, text) = c
        .get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=from-a-page")
        .await;
    assert!(text.contains("from-a-page"));

    // Security headers on the API and the UI.
    let (_, text) = raw_http(
        srv.addr,
        &http_request("GET", "/", &[&format!("Host: localhost:{port}")], ""),
    )
    .await;
    let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("x-frame-options: sameorigin"), "{head}");
    assert!(head.contains("content-security-policy: "), "{head}");
    let (_, text) = raw_http(srv.addr, &search(format!("localhost:{port}"), vec![])).await;
    let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
}

#[tokio::test]
async fn allowed_hosts_and_origins_are_configurable() {
    let srv = ServerProcess::start(
        &[
            "--allowed-hosts",
            "mlflow.example.com,*.internal",
            "--cors-allowed-origins",
            "https://notebooks.example.com",
            "--x-frame-options",
            "DENY",
        ],
        &[],
    );
    let req = |host: &str, origin: Option<&str>| {
        let mut h = vec![format!("Host: {host}")];
        if let Some(o) = origin {
            h.push(format!("Origin: {o}"));
        }
        let refs: Vec<&str> = h.iter().map(String::as_str).collect();
        http_request("POST", "/api/2.0/mlflow/experiments/search", &refs, "{}")
    };
    assert_eq!(
        raw_http(srv.addr, &req("mlflow.example.com", None)).await.0,
        200
    );
    assert_eq!(raw_http(srv.addr, &req("weir.internal", None)).await.0, 200);
    assert_eq!(raw_http(srv.addr, &req("localhost", None)).await.0, 403);
    let (st, text) = raw_http(
        srv.addr,
        &req("mlflow.example.com", Some("https://notebooks.example.com")),
    )
    .await;
    assert_eq!(st, 200, "{text}");
    let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(
        head.contains("access-control-allow-origin: https://notebooks.example.com"),
        "{head}"
    );
    assert!(head.contains("x-frame-options: deny"), "{head}");
    let (st, _) = raw_http(
        srv.addr,
        &req("mlflow.example.com", Some("https://other.example.com")),
    )
    .await;
    assert_eq!(st, 403);
    let srv = ServerProcess::start(&["--allowed-hosts", "*"], &[]);
    assert_eq!(
        raw_http(srv.addr, &req("anything.example", None)).await.0,
        200
    );
}

// ---- 9. Forwarding headers count only from trusted proxies ----

#[tokio::test]
async fn forwarding_headers_count_only_from_trusted_proxies() {
    for (args, trusted) in [
        (vec![], false),
        (vec!["--trusted-proxies", "127.0.0.0/8"], true),
    ] {
        let srv = ServerProcess::start(&args, &[]);
        let (st, text) = raw_http(
            srv.addr,
            &http_request(
                "POST",
                "/api/2.0/mlflow-artifacts/mpu/create/1/r/artifacts",
                &[
                    "X-Forwarded-Host: attacker.example",
                    "X-Forwarded-Proto: https",
                ],
                r#"{"path": "big.bin", "num_parts": 2}"#,
            ),
        )
        .await;
        assert_eq!(st, 200, "{text}");
        let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        let url = body["credentials"][0]["url"].as_str().unwrap();
        if trusted {
            assert!(url.starts_with("https://attacker.example/"), "{url}");
        } else {
            assert!(url.starts_with("http://localhost/"), "{url}");
        }

        let c = Client::new(&srv);
        assert_eq!(
            c.post("registered-models/create", json!({"name": "m"}))
                .await
                .0,
            200
        );
        let (st, _) = c
            .post(
                "model-versions/create",
                json!({"name": "m", "source": "s3://b/m"}),
            )
            .await;
        assert_eq!(st, 200);
        let (st, text) = raw_http(
            srv.addr,
            &http_request(
                "POST",
                "/api/2.0/mlflow/registered-models/alias",
                &["X-Forwarded-User: mallory"],
                r#"{"name": "m", "alias": "champion", "version": "1"}"#,
            ),
        )
        .await;
        assert_eq!(st, 200, "{text}");
        let (_, text) = c
            .get("/api/2.0/weir/registered-models/alias-history?name=m")
            .await;
        assert_eq!(text.contains("mallory"), trusted, "{text}");
    }
}

// ---- 8. Amplification and limits ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_metric_reads_and_huge_filters_are_bounded() {
    for backend in common::backends() {
        let (srv, db) = server(backend, &[]).await;
        let c = Client::new(&srv);
        let (run, _) = c.run("0").await;
        let metrics: Vec<Value> = (0..1000)
            .map(|i| json!({"key": "loss", "value": i as f64, "timestamp": 1, "step": i}))
            .collect();
        assert_eq!(
            c.post("runs/log-batch", json!({"run_id": run, "metrics": metrics}))
                .await
                .0,
            200
        );
        let ids: String = (0..100).map(|_| format!("&run_ids={run}")).collect();
        for route in [
            format!("/ajax-api/2.0/weir/metrics/downsample?metric_key=loss&max_points=20000{ids}"),
            format!("/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?metric_key=loss&max_results=2500{ids}"),
        ] {
            let (st, text) = c.get(&route).await;
            assert_eq!(st, 200, "{text}");
            // One run's worth of points, not a hundred copies of it.
            assert!(text.len() < 200_000, "{backend} {route}: {} bytes", text.len());
        }

        // Filters and orderings past what a database accepts are 400s, never 500s.
        let huge_or = (0..20_000)
            .map(|i| format!("params.p = '{i}'"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let many_in = format!(
            "params.p IN ({})",
            (0..40_000)
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for filter in [huge_or, many_in] {
            let (st, r) = c
                .post(
                    "runs/search",
                    json!({"experiment_ids": ["0"], "filter": filter}),
                )
                .await;
            assert_eq!(st, 400, "{backend}: {r}");
            assert_eq!(r["error_code"], "INVALID_PARAMETER_VALUE");
        }
        let order: Vec<String> = (0..2000).map(|i| format!("params.p{i} ASC")).collect();
        let (st, r) = c
            .post(
                "runs/search",
                json!({"experiment_ids": ["0"], "order_by": order}),
            )
            .await;
        assert_eq!(st, 400, "{backend}: {r}");
        assert_eq!(r["error_code"], "INVALID_PARAMETER_VALUE");
        for search in [
            "experiments/search",
            "registered-models/search",
            "model-versions/search",
        ] {
            // Past the cap, yet short enough for a URL.
            let filter = (0..1000)
                .map(|i| format!("name = 'n{i}'"))
                .collect::<Vec<_>>()
                .join(" OR ");
            let url = format!("{}/api/2.0/mlflow/{search}", c.base);
            let r = if search == "experiments/search" {
                c.http
                    .post(url)
                    .json(&json!({"filter": filter}))
                    .send()
                    .await
            } else {
                c.http.get(url).query(&[("filter", filter)]).send().await
            }
            .unwrap();
            assert_eq!(r.status(), 400, "{backend} {search}");
        }
        drop(srv);
        done(db).await;
    }
}

// ---- 7. Slow and idle connections ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_neither_starve_health_nor_linger() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = ServerProcess::start(
        &["--header-read-timeout", "1", "--keep-alive-timeout", "2"],
        &[],
    );
    let mut held = Vec::new();
    for i in 0..300 {
        let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        // Half a request head, or a head promising a body that never comes.
        let bytes: &[u8] = if i % 2 == 0 {
            b"POST /api/2.0/mlflow/runs/log-metric HTTP/1.1\r\nHost: localhost\r\n"
        } else {
            b"POST /api/2.0/mlflow/runs/log-metric HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        };
        s.write_all(bytes).await.unwrap();
        held.push(s);
    }
    let started = Instant::now();
    let r = reqwest::get(format!("{}/health", srv.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The half-sent heads are cut after the header-read timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut closed = 0;
    for (i, s) in held.iter_mut().enumerate().filter(|(i, _)| i % 2 == 0) {
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1,
            Err(_) => panic!("connection {i} is still open after the header-read timeout"),
        }
    }
    assert_eq!(closed, 150);
    // An idle keep-alive connection is closed after the keep-alive timeout.
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("the idle connection was never closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds() {
    use tokio::io::AsyncWriteExt;
    let srv = ServerProcess::start(
        &["--max-connections", "20", "--header-read-timeout", "2"],
        &[],
    );
    let mut held = Vec::new();
    for _ in 0..60 {
        let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: l").await;
        held.push(s);
    }
    // Past the limit new connections wait in the kernel's backlog: the server holds no more
    // than the limit open at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sockets = std::fs::read_dir(format!("/proc/{}/fd", srv.child.id()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count();
    assert!(sockets <= 20 + 8, "{sockets} sockets open");
    // Once the slow ones are cut, /health answers again.
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(15),
        reqwest::get(format!("{}/health", srv.url)),
    )
    .await
    .expect("health never answered")
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(12));
    drop(held);
}

// ---- The database away ----

#[test]
fn an_unreachable_database_fails_fast_with_a_clear_message() {
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "server",
            "--port",
            "0",
            "--backend-store-uri",
            "postgresql://weir:secret-pw@127.0.0.1:1/mlflow",
            "--db-connect-timeout",
            "3",
        ])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(!out.status.success());
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(err.contains("--db-connect-timeout"), "{err}");
    assert!(!err.contains("secret-pw"), "the password leaked: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_answers_503_not_500() {
    if !common::postgres_enabled("a_database_restart_answers_503_not_500") {
        return;
    }
    let (uri, db) = common::create_pg_database().await;
    let srv = ServerProcess::start(&["--backend-store-uri", &uri], &[]);
    let c = Client::new(&srv);
    let (run, _) = c.run("0").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        let db = db.clone();
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut admin = sqlx::PgConnection::connect(&common::pg_admin_url())
                .await
                .unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&db)
                .execute(&mut admin)
                .await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let mut statuses = std::collections::BTreeMap::new();
    let mut retry_after = true;
    for i in 0..600 {
        let r = c
            .http
            .post(format!("{}/api/2.0/mlflow/runs/log-metric", c.base))
            .json(&json!({"run_id": run, "key": "m", "value": 1.0, "timestamp": 1, "step": i}))
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        if st == 503 {
            retry_after &= r.headers().contains_key("retry-after");
        }
        *statuses.entry(st).or_insert(0) += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    killer.await.unwrap();
    assert!(
        statuses.keys().all(|s| *s == 200 || *s == 503),
        "{statuses:?}\n{}",
        srv.log_text()
    );
    assert!(retry_after, "503s carry Retry-After");
    assert!(statuses.get(&200).copied().unwrap_or(0) > 0, "{statuses:?}");
    drop(srv);
    common::drop_pg_database(&db).await;
}

// ---- 4. Secrets stay out of logs and answers ----

#[tokio::test]
async fn database_passwords_never_reach_logs() {
    if !common::postgres_enabled("database_passwords_never_reach_logs") {
        return;
    }
    let (uri, db) = common::create_pg_database().await;
    // Trust auth ignores the password, so any value works; it must still never be printed.
    let with_pw = uri.replacen(
        "postgresql://postgres@",
        "postgresql://postgres:s3cr3t-pw@",
        1,
    );
    let with_query = format!("{uri}?password=s3cr3t-q");
    for u in [with_pw, with_query] {
        let srv = ServerProcess::start(&["--backend-store-uri", &u, "--log-level", "debug"], &[]);
        let c = Client::new(&srv);
        let (st, _) = c.get("/health").await;
        assert_eq!(st, 200);
        drop(c);
        let logs = srv.log_text();
        assert!(!logs.contains("s3cr3t"), "{logs}");
    }
    common::drop_pg_database(&db).await;
}

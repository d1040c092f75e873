//! Behaviour MLflow's own REST test suite pins down, guarded here without MLflow's test tree:
//! each test is one cause the conformance run (`scripts/conformance.sh`) found, checked through
//! the router on SQLite and PostgreSQL with MLflow 3.17.2's exact statuses and messages.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Api {
    app: Router,
    backend: &'static str,
    store: Option<common::TestStore>,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    content_type: Option<String>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into()))
    }

    /// An MLflow error: its status, code and message.
    fn error(&self) -> (StatusCode, String, String) {
        let v = self.json();
        (
            self.status,
            v["error_code"].as_str().unwrap_or("").to_owned(),
            v["message"].as_str().unwrap_or("").to_owned(),
        )
    }
}

impl Api {
    /// The router over each backend the tests run on, runs' artifacts proxied.
    async fn all() -> Vec<Api> {
        Self::all_with(false).await
    }

    /// As [`Api::all`]; with `local_root`, runs' artifacts go under a `file://` default root
    /// (`mlflow server --default-artifact-root file:///...`), confined like `weir server`.
    async fn all_with(local_root: bool) -> Vec<Api> {
        let mut out = Vec::new();
        for (backend, t) in common::TestStore::all().await {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("proxied");
            let dest = dest.to_str().unwrap();
            let repo = weir::artifacts::open(dest).await.unwrap();
            let (artifacts, root) = if local_root {
                let root = format!("file://{}", dir.path().join("root").display());
                (
                    weir::artifacts::Artifacts::confined(Some(repo), &[&root, dest]),
                    root,
                )
            } else {
                (
                    weir::artifacts::Artifacts::new(Some(repo)),
                    "mlflow-artifacts:".to_owned(),
                )
            };
            let state =
                weir::app::AppState::new(t.store.clone(), artifacts, root, 32 * 1024 * 1024);
            state.tracking.ensure_default_experiment().await.unwrap();
            out.push(Api {
                app: weir::app::app(state),
                backend,
                store: Some(t),
                _dir: dir,
            });
        }
        out
    }

    async fn done(mut self) {
        if let Some(t) = self.store.take() {
            t.cleanup().await;
        }
    }

    async fn send(&self, method: &str, uri: &str, ct: Option<&str>, body: Vec<u8>) -> Reply {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "localhost");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        let resp = self
            .app
            .clone()
            .oneshot(b.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status,
            body,
            content_type,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Reply {
        let uri = format!("/api/2.0/mlflow/{path}");
        if method == "GET" {
            self.send(method, &uri, None, Vec::new()).await
        } else {
            self.send(
                method,
                &uri,
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await
        }
    }

    /// A call that must succeed; its JSON answer.
    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let r = self.call(method, path, body).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}: {method} {path}: {}",
            self.backend,
            r.json()
        );
        r.json()
    }

    async fn run(&self, experiment: &str) -> String {
        let v = self
            .ok(
                "POST",
                "runs/create",
                json!({"experiment_id": experiment, "start_time": 1}),
            )
            .await;
        v["run"]["info"]["run_id"].as_str().unwrap().to_owned()
    }

    async fn log_steps(&self, run: &str, key: &str, steps: std::ops::Range<i64>) {
        let metrics: Vec<Value> = steps
            .map(|s| json!({"key": key, "value": 10.0, "timestamp": 1, "step": s}))
            .collect();
        self.ok(
            "POST",
            "runs/log-batch",
            json!({"run_id": run, "metrics": metrics}),
        )
        .await;
    }
}

fn steps(v: &Value, run: &str) -> Vec<i64> {
    v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["run_id"] == run)
        .map(|m| m["step"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn metric_history_bulk_routes_sample_and_check_like_mlflow() {
    for api in Api::all().await {
        let b = api.backend;
        let (r1, r2) = (api.run("0").await, api.run("0").await);
        api.log_steps(&r1, "a", 0..10).await;
        api.log_steps(&r2, "a", 0..20).await;
        let bulk = |q: String| format!("metrics/get-history-bulk-interval?metric_key=a&{q}");

        // Rows in `max_results` even buckets, each bucket's first row, and the last row kept.
        let v = api
            .ok(
                "GET",
                &bulk(format!("run_ids={r1}&max_results=5")),
                json!({}),
            )
            .await;
        assert_eq!(steps(&v, &r1), [0, 2, 4, 6, 9], "{b}");
        let v = api
            .ok(
                "GET",
                &bulk(format!("run_ids={r1}&run_ids={r2}&max_results=5")),
                json!({}),
            )
            .await;
        assert_eq!(steps(&v, &r1), [0, 2, 4, 6, 9], "{b}");
        assert_eq!(steps(&v, &r2), [0, 4, 8, 12, 19], "{b}");
        let v = api
            .ok(
                "GET",
                &bulk(format!(
                    "run_ids={r1}&start_step=0&end_step=4&max_results=5"
                )),
                json!({}),
            )
            .await;
        assert_eq!(steps(&v, &r1), [0, 1, 2, 3, 4], "{b}");
        let v = api
            .ok(
                "GET",
                &bulk(format!("run_ids={r2}&max_results=1")),
                json!({}),
            )
            .await;
        assert_eq!(steps(&v, &r2), [19], "{b}: one point is the last one");
        let v = api
            .ok("GET", &bulk(format!("run_ids={r2}")), json!({}))
            .await;
        assert_eq!(steps(&v, &r2).len(), 20, "{b}: default is 2500 per run");

        // Many values at one step still come back bounded.
        let same: Vec<Value> = (0..50)
            .map(|i| json!({"key": "s", "value": i, "timestamp": i, "step": 0}))
            .collect();
        api.ok(
            "POST",
            "runs/log-batch",
            json!({"run_id": r1, "metrics": same}),
        )
        .await;
        let v = api
            .ok(
                "GET",
                &format!(
                    "metrics/get-history-bulk-interval?metric_key=s&run_ids={r1}&max_results=5"
                ),
                json!({}),
            )
            .await;
        assert_eq!(v["metrics"].as_array().unwrap().len(), 5, "{b}");

        let r = api
            .call(
                "GET",
                &bulk("run_ids=123&start_step=1&max_results=5".into()),
                json!({}),
            )
            .await;
        assert_eq!(
            r.error(),
            (
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE".into(),
                "If either start step or end step are specified, both must be specified.".into()
            ),
            "{b}: checked before any run is looked up"
        );

        // The UI's older call: every run's history, by run id then timestamp, step, value.
        let uri = |q: &str| format!("/ajax-api/2.0/mlflow/metrics/get-history-bulk?{q}");
        let r = api
            .send(
                "GET",
                &uri(&format!("run_id={r2}&run_id={r1}&metric_key=a")),
                None,
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        let v = r.json();
        let all = v["metrics"].as_array().unwrap();
        assert_eq!(all.len(), 30, "{b}");
        let (first, second) = if r1 < r2 { (&r1, &r2) } else { (&r2, &r1) };
        assert_eq!(all[0]["run_id"], first.as_str(), "{b}");
        assert_eq!(all[29]["run_id"], second.as_str(), "{b}");
        let r = api
            .send(
                "GET",
                &uri(&format!("run_id={r1}&metric_key=a&max_results=2")),
                None,
                vec![],
            )
            .await;
        assert_eq!(steps(&r.json(), &r1), [0, 1], "{b}");
        let r = api.send("GET", &uri("metric_key=a"), None, vec![]).await;
        assert_eq!(
            r.error().2,
            "GetMetricHistoryBulk request must specify at least one run_id.",
            "{b}"
        );
        let r = api
            .send("GET", &uri(&format!("run_id={r1}")), None, vec![])
            .await;
        assert_eq!(
            r.error().2,
            "GetMetricHistoryBulk request must specify a metric_key.",
            "{b}"
        );
        api.done().await;
    }
}

#[tokio::test]
async fn wrong_fields_are_named_in_mlflows_order() {
    for api in Api::all().await {
        let b = api.backend;
        let run = api.run("0").await;
        let message = |r: &Reply| r.error().2;
        for route in ["runs/log-parameter", "runs/set-tag"] {
            let r = api
                .call(
                    "POST",
                    route,
                    json!({"run_id": 31, "key": "param", "value": 41}),
                )
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{b}");
            assert!(
                message(&r).starts_with("Invalid value 31 for parameter 'run_id' supplied"),
                "{b} {route}: {}",
                message(&r)
            );
        }
        let r = api
            .call(
                "POST",
                "runs/log-metric",
                json!({"run_id": run, "key": "foo", "value": 31, "timestamp": 59, "step": "foo"}),
            )
            .await;
        assert!(
            message(&r).starts_with("Invalid value \"foo\" for parameter 'step' supplied"),
            "{b}: {}",
            message(&r)
        );
        let r = api
            .call(
                "POST",
                "runs/log-metric",
                json!({"run_id": run, "key": "foo", "value": "bar", "timestamp": 59}),
            )
            .await;
        assert!(
            message(&r).starts_with("Invalid value \"bar\" for parameter 'value' supplied"),
            "{b}: {}",
            message(&r)
        );
        for (body, missing) in [
            (
                json!({"metrics": [{"key": "mae", "value": 2.5}]}),
                "metrics[0].timestamp",
            ),
            (
                json!({"metrics": [{"key": "mae", "timestamp": 1}]}),
                "metrics[0].value",
            ),
            (
                json!({"metrics": [{"value": 2.5, "timestamp": 1}]}),
                "metrics[0].key",
            ),
            (
                json!({"params": [{"key": "a", "value": "1"}, {"value": "x"}]}),
                "params[1].key",
            ),
            (json!({"tags": [{"value": "x"}]}), "tags[0].key"),
        ] {
            let mut body = body;
            body["run_id"] = json!(run);
            let r = api.call("POST", "runs/log-batch", body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{b}");
            assert!(
                message(&r)
                    .starts_with(&format!("Missing value for required parameter '{missing}'")),
                "{b}: {}",
                message(&r)
            );
        }
        // Nothing of a refused batch was stored.
        let v = api
            .ok("GET", &format!("runs/get?run_id={run}"), json!({}))
            .await;
        assert!(v["run"]["data"].get("metrics").is_none(), "{b}: {v}");
        api.done().await;
    }
}

#[tokio::test]
async fn ui_upload_route_checks_then_stores_in_the_run() {
    let mut apis = Api::all_with(false).await;
    apis.extend(Api::all_with(true).await);
    for api in apis {
        let b = api.backend;
        let run = api.run("0").await;
        let up = |q: &str| format!("/ajax-api/2.0/mlflow/upload-artifact?{q}");
        for (q, body, message) in [
            ("", b"x".to_vec(), "Request must specify run_uuid."),
            (
                &format!("run_uuid={run}") as &str,
                b"x".to_vec(),
                "Request must specify path.",
            ),
            (
                &format!("run_uuid={run}&path="),
                b"x".to_vec(),
                "Request must specify path.",
            ),
            (
                &format!("run_uuid={run}&path=../test.txt"),
                b"x".to_vec(),
                "Invalid path",
            ),
            (
                &format!("run_uuid={run}&path=/etc/passwd"),
                b"x".to_vec(),
                "Invalid path",
            ),
            (
                &format!("run_uuid={run}&path=test.txt"),
                Vec::new(),
                "Request must specify data.",
            ),
            (
                &format!("run_uuid={run}&path=big.bin"),
                vec![0u8; 10 * 1024 * 1024 + 1],
                "Artifact size is too large. Max size is 10MB.",
            ),
            // The path is checked before the run is looked up.
            ("run_uuid=nope&path=../x", b"x".to_vec(), "Invalid path"),
        ] {
            let r = api.send("POST", &up(q), None, body).await;
            assert_eq!(
                r.error(),
                (
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER_VALUE".into(),
                    message.into()
                ),
                "{b}: {q}"
            );
        }
        let r = api
            .send(
                "POST",
                &up(&format!("run_uuid={run}&path=dir/test.txt")),
                None,
                b"hello world".to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.json());
        let r = api
            .send(
                "GET",
                &format!("/get-artifact?run_uuid={run}&path=dir/test.txt"),
                None,
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        assert_eq!(r.body, b"hello world", "{b}");
        assert_eq!(r.content_type.as_deref(), Some("text/plain"), "{b}");
        let r = api
            .send("POST", &up("run_uuid=nope&path=a.txt"), None, b"x".to_vec())
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        api.done().await;
    }
}

#[tokio::test]
async fn paths_with_doubled_slashes_reach_their_route() {
    for api in Api::all().await {
        let b = api.backend;
        let r = api
            .send(
                "GET",
                "//model-versions/get-artifact?name=model&version=1&path=../path",
                None,
                vec![],
            )
            .await;
        assert_eq!(
            r.error(),
            (
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE".into(),
                "Invalid path".into()
            ),
            "{b}"
        );
        let r = api
            .send(
                "GET",
                "//api/2.0/mlflow//experiments/get?experiment_id=0",
                None,
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        assert_eq!(r.json()["experiment"]["name"], "Default", "{b}");
        // An artifact path's own slashes are the client's: `//etc/x` stays absolute, refused.
        for method in ["PUT", "GET", "DELETE"] {
            let r = api
                .send(
                    method,
                    "/api/2.0/mlflow-artifacts/artifacts//tmp/weir-sentinel.txt",
                    None,
                    b"x".to_vec(),
                )
                .await;
            assert_eq!(r.error().2, "Invalid path", "{b}: {method}");
        }
        api.done().await;
    }
}

#[tokio::test]
async fn model_version_search_orders_newest_first_like_mlflow() {
    for api in Api::all().await {
        let b = api.backend;
        let run = api.run("0").await;
        let source = format!("runs:/{run}/model");
        for name in ["mv-b", "mv-a", "mv-c"] {
            api.ok("POST", "registered-models/create", json!({"name": name}))
                .await;
        }
        // Versions made one after another: mv-b 1, mv-a 1, mv-c 1, mv-b 2, mv-a 2.
        for name in ["mv-b", "mv-a", "mv-c", "mv-b", "mv-a"] {
            api.ok(
                "POST",
                "model-versions/create",
                json!({"name": name, "source": source, "run_id": run}),
            )
            .await;
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        let listed = |v: &Value| -> Vec<(String, String)> {
            v["model_versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap().to_owned(),
                        m["version"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let v = api
            .ok("GET", "model-versions/search?max_results=100", json!({}))
            .await;
        assert_eq!(
            listed(&v),
            pairs(&[
                ("mv-a", "2"),
                ("mv-b", "2"),
                ("mv-c", "1"),
                ("mv-a", "1"),
                ("mv-b", "1")
            ]),
            "{b}: newest change first"
        );
        // Paging follows the same order.
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let v = api
                .ok(
                    "GET",
                    &format!("model-versions/search?max_results=2&page_token={token}"),
                    json!({}),
                )
                .await;
            seen.extend(listed(&v));
            match v["next_page_token"].as_str() {
                Some(t) => token = t.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5, "{b}");
        assert_eq!(seen[0], ("mv-a".to_string(), "2".to_string()), "{b}");
        // An explicit order keeps its own terms and MLflow's tie-breaks (name, version desc).
        let v = api
            .ok(
                "GET",
                "model-versions/search?order_by=version_number%20ASC",
                json!({}),
            )
            .await;
        assert_eq!(
            listed(&v),
            pairs(&[
                ("mv-a", "1"),
                ("mv-b", "1"),
                ("mv-c", "1"),
                ("mv-a", "2"),
                ("mv-b", "2")
            ]),
            "{b}"
        );
        let r = api
            .call(
                "GET",
                "model-versions/search?order_by=name%20ASC&order_by=name%20DESC",
                json!({}),
            )
            .await;
        assert_eq!(
            r.error().2,
            "`order_by` contains duplicate fields: ['name ASC', 'name DESC']",
            "{b}"
        );
        let r = api
            .call(
                "GET",
                "model-versions/get?name=mv-a&version=something%20not%20correct",
                json!({}),
            )
            .await;
        assert_eq!(
            r.error(),
            (
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE".into(),
                "Parameter 'version' must be an integer, got 'something not correct'.".into()
            ),
            "{b}"
        );
        api.done().await;
    }
}

#[tokio::test]
async fn logged_models_tags_versions_datasets_and_files() {
    for api in Api::all().await {
        let b = api.backend;
        let create = |name: &'static str| {
            let api = &api;
            async move {
                let v = api
                    .ok(
                        "POST",
                        "logged-models",
                        json!({"experiment_id": "0", "name": name}),
                    )
                    .await;
                (
                    v["model"]["info"]["model_id"].as_str().unwrap().to_owned(),
                    v["model"]["info"]["artifact_uri"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            }
        };
        let (m1, m1_uri) = create("one").await;
        let (m2, _) = create("two").await;

        // Deleting a tag that is not there is an error.
        api.ok(
            "PATCH",
            &format!("logged-models/{m1}/tags"),
            json!({"tags": [{"key": "t", "value": "v"}]}),
        )
        .await;
        api.ok("DELETE", &format!("logged-models/{m1}/tags/t"), json!({}))
            .await;
        let r = api
            .call("DELETE", &format!("logged-models/{m1}/tags/t"), json!({}))
            .await;
        assert_eq!(
            r.error(),
            (
                StatusCode::NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST".into(),
                format!("No tag with key 't' found for model with ID '{m1}'.")
            ),
            "{b}"
        );

        // Registering versions from a logged model records them as Python's json.dumps would.
        api.ok("POST", "registered-models/create", json!({"name": "model"}))
            .await;
        let tag = |v: &Value| -> String {
            v["model"]["info"]["tags"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["key"] == "mlflow.modelVersions")
                .map(|t| t["value"].as_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        for _ in 0..2 {
            api.ok(
                "POST",
                "model-versions/create",
                json!({"name": "model", "source": m1_uri, "model_id": m1}),
            )
            .await;
        }
        let v = api
            .ok("GET", &format!("logged-models/{m1}"), json!({}))
            .await;
        assert_eq!(
            tag(&v),
            r#"[{"name": "model", "version": 1}, {"name": "model", "version": 2}]"#,
            "{b}"
        );

        // `datasets` keeps the models with metrics on those datasets, and narrows metric filters.
        let run = api.run("0").await;
        api.ok(
            "POST",
            "runs/log-batch",
            json!({"run_id": run, "metrics": [
                {"key": "metric", "value": 1, "timestamp": 1, "step": 0, "model_id": m1,
                 "dataset_name": "dataset", "dataset_digest": "123"},
                {"key": "metric", "value": 5, "timestamp": 1, "step": 0, "model_id": m2,
                 "dataset_name": "other", "dataset_digest": "9"}]}),
        )
        .await;
        let search = |body: Value| {
            let api = &api;
            async move {
                let mut body = body;
                body["experiment_ids"] = json!(["0"]);
                let v = api.ok("POST", "logged-models/search", body).await;
                let mut ids: Vec<String> = v["models"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|m| m["info"]["model_id"].as_str().unwrap().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                ids.sort();
                ids
            }
        };
        assert_eq!(
            search(json!({"datasets": [{"dataset_name": "dataset", "dataset_digest": "123"}]}))
                .await,
            vec![m1.clone()],
            "{b}"
        );
        assert_eq!(
            search(json!({"datasets": [{"dataset_name": "dataset", "dataset_digest": "x"}]})).await,
            Vec::<String>::new(),
            "{b}"
        );
        assert_eq!(
            search(json!({"datasets": [{"dataset_name": "nothing"}]})).await,
            Vec::<String>::new(),
            "{b}"
        );
        assert_eq!(
            search(json!({"filter": "metrics.metric > 0",
                          "datasets": [{"dataset_name": "other"}]}))
            .await,
            vec![m2.clone()],
            "{b}: the metric compared on the named dataset only"
        );
        assert_eq!(
            search(json!({"filter": "metrics.metric < 3",
                          "datasets": [{"dataset_name": "other"}]}))
            .await,
            Vec::<String>::new(),
            "{b}"
        );
        let mut both = vec![m1.clone(), m2.clone()];
        both.sort();
        assert_eq!(search(json!({})).await, both, "{b}");
        let r = api
            .call(
                "POST",
                "logged-models/search",
                json!({"experiment_ids": ["0"], "datasets": [{"dataset_digest": "123"}]}),
            )
            .await;
        assert_eq!(
            r.error(),
            (
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE".into(),
                "`dataset_name` in the `datasets` clause must be specified.".into()
            ),
            "{b}"
        );

        // One file of a logged model, through the UI's route.
        let path = m1_uri.strip_prefix("mlflow-artifacts:/").unwrap();
        let r = api
            .send(
                "PUT",
                &format!("/api/2.0/mlflow-artifacts/artifacts/{path}/MLmodel"),
                None,
                format!("model_id: {m1}\n").into_bytes(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        let files = |q: &str| format!("/ajax-api/2.0/mlflow/logged-models/{m1}/artifacts/files{q}");
        let r = api
            .send("GET", &files("?artifact_file_path=MLmodel"), None, vec![])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        assert!(String::from_utf8_lossy(&r.body).contains(&m1), "{b}");
        assert_eq!(r.content_type.as_deref(), Some("text/plain"), "{b}");
        let r = api.send("GET", &files(""), None, vec![]).await;
        assert_eq!(
            r.error(),
            (
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST".into(),
                "Request must include the \"artifact_file_path\" query parameter.".into()
            ),
            "{b}"
        );
        let r = api
            .send(
                "GET",
                &files("?artifact_file_path=../../../etc/passwd"),
                None,
                vec![],
            )
            .await;
        assert_eq!(r.error().2, "Invalid path", "{b}");
        api.done().await;
    }
}

#[tokio::test]
async fn relative_locations_become_absolute_and_text_files_are_text() {
    for api in Api::all().await {
        let b = api.backend;
        let v = api
            .ok(
                "POST",
                "experiments/create",
                json!({"name": "rel", "artifact_location": "my_location"}),
            )
            .await;
        let id = v["experiment_id"].as_str().unwrap();
        let v = api
            .ok(
                "GET",
                &format!("experiments/get?experiment_id={id}"),
                json!({}),
            )
            .await;
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            v["experiment"]["artifact_location"],
            cwd.join("my_location").to_str().unwrap(),
            "{b}"
        );

        for (name, expected) in [
            ("mlproject", "text/plain"),
            ("MLmodel", "text/plain"),
            ("conf.hocon", "text/plain"),
            ("page.html", "text/plain"),
            ("img.png", "image/png"),
            ("weights.bin", "application/octet-stream"),
        ] {
            let uri = format!("/api/2.0/mlflow-artifacts/artifacts/mime/{name}");
            let r = api.send("PUT", &uri, None, Vec::new()).await;
            assert_eq!(r.status, StatusCode::OK, "{b}");
            let r = api.send("GET", &uri, None, Vec::new()).await;
            assert_eq!(r.content_type.as_deref(), Some(expected), "{b}: {name}");
        }
        api.done().await;
    }
}

//! HTTP tests through the router (`oneshot`), on a real SQLite store: wire shapes, MLflow's
//! error codes and statuses, and bad input that must change nothing.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Api {
    app: Router,
    _store: common::TestStore,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Api {
        let t = common::TestStore::sqlite().await;
        let dir = tempfile::tempdir().unwrap();
        let repo = weir::artifacts::open(dir.path().to_str().unwrap())
            .await
            .unwrap();
        let state = weir::app::AppState::new(
            t.store.clone(),
            weir::artifacts::Artifacts::new(Some(repo)),
            "mlflow-artifacts:".into(),
            1024 * 1024,
        );
        state.tracking.ensure_default_experiment().await.unwrap();
        Api {
            app: weir::app::app(state),
            _store: t,
            _dir: dir,
        }
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, String, Option<String>) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned(), ct)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::post(format!("/api/2.0/mlflow/{path}"))
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let (s, b, _) = self.call(req).await;
        (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }

    async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        let req = Request::get(format!("/api/2.0/mlflow/{path_and_query}"))
            .header("host", "localhost")
            .body(Body::empty())
            .unwrap();
        let (s, b, _) = self.call(req).await;
        (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, String, Option<String>) {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        self.call(b.body(Body::from(body)).unwrap()).await
    }
}

#[tokio::test]
async fn tracking_flow_as_captured() {
    let api = Api::new().await;
    let (s, v) = api
        .get("experiments/get-by-name?experiment_name=wf-a")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(v["message"], "Could not find experiment with name 'wf-a'");

    let (s, v) = api
        .post("experiments/create", json!({"name": "wf-a"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let exp = v["experiment_id"].as_str().unwrap().to_owned();

    let (_, v) = api
        .get(&format!("experiments/get?experiment_id={exp}"))
        .await;
    assert_eq!(
        v["experiment"]["artifact_location"],
        format!("mlflow-artifacts:/{exp}")
    );
    assert_eq!(v["experiment"]["lifecycle_stage"], "active");
    assert!(
        v["experiment"].get("tags").is_none(),
        "empty lists are omitted"
    );

    let (s, v) = api
        .post(
            "runs/create",
            json!({"experiment_id": exp, "user_id": "root", "start_time": 1795710585476u64,
                   "tags": [{"key": "mlflow.user", "value": "root"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let run = &v["run"];
    let run_id = run["info"]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(run["info"]["run_uuid"], run_id.as_str());
    assert_eq!(run["info"]["status"], "RUNNING");
    assert!(run["info"].get("end_time").is_none());
    assert_eq!(run["inputs"], json!({}));
    assert!(run.get("outputs").is_none());
    let name = run["info"]["run_name"].as_str().unwrap();
    assert!(run["data"]["tags"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "mlflow.runName", "value": name})));

    let (s, _) = api
        .post("runs/log-metric", json!({"run_id": run_id, "run_uuid": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 1}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .post("runs/log-batch", json!({"run_id": run_id, "metrics": [{"key": "m", "value": "NaN", "timestamp": 1, "step": 0}],
                                       "params": [{"key": "p", "value": "1"}], "tags": [{"key": "t", "value": "v"}]}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = api
        .post(
            "runs/log-parameter",
            json!({"run_id": run_id, "key": "p", "value": "2"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");

    let (_, v) = api
        .get(&format!("runs/get?run_uuid={run_id}&run_id={run_id}"))
        .await;
    let metrics = v["run"]["data"]["metrics"].as_array().unwrap();
    assert!(metrics.contains(&json!({"key": "loss", "value": 0.5, "timestamp": 1, "step": 1})));
    assert!(metrics.contains(&json!({"key": "m", "value": "NaN", "timestamp": 1, "step": 0})));
    assert_eq!(v["run"]["outputs"], json!({}));

    let (_, v) = api
        .get(&format!(
            "metrics/get-history?run_id={run_id}&metric_key=loss&max_results=25000"
        ))
        .await;
    assert_eq!(
        v,
        json!({"metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 1}]})
    );

    let (s, v) = api
        .post(
            "runs/update",
            json!({"run_id": run_id, "status": "FINISHED", "end_time": 5, "run_name": "done"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["run_info"]["end_time"], 5);
    assert_eq!(v["run_info"]["run_name"], "done");

    let (s, v) = api
        .post("runs/search", json!({"experiment_ids": [exp], "filter": "metrics.loss < 1", "max_results": 1, "order_by": ["metrics.loss DESC"]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert!(v.get("next_page_token").is_none());

    let (_, v) = api
        .post(
            "experiments/search",
            json!({"max_results": 1, "view_type": "ACTIVE_ONLY"}),
        )
        .await;
    assert_eq!(v["next_page_token"], "eyJvZmZzZXQiOiAxfQ==");
    let first = v["experiments"][0]["experiment_id"].clone();
    let (s, v) = api
        .get("experiments/search?max_results=1&page_token=eyJvZmZzZXQiOiAxfQ%3D%3D")
        .await;
    assert_eq!(s, StatusCode::OK);
    // Newest first; "Default" and wf-a may share a millisecond, then the id breaks the tie.
    let second = v["experiments"][0]["experiment_id"].clone();
    let mut both = [first.as_str().unwrap_or(""), second.as_str().unwrap_or("")];
    both.sort();
    assert_eq!(both, ["0", exp.as_str()]);

    let (s, v) = api
        .get(&format!(
            "metrics/get-history-bulk-interval?run_ids={run_id}&metric_key=loss&max_results=10"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["metrics"][0]["run_id"], run_id.as_str());

    // The /ajax-api mirror answers the same.
    let (s, b, _) = api
        .raw(
            "GET",
            "/ajax-api/2.0/mlflow/experiments/get?experiment_id=0",
            None,
            vec![],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.contains("\"Default\""));
}

#[tokio::test]
async fn bad_input_gets_mlflow_errors_and_changes_nothing() {
    let api = Api::new().await;
    let (_, v) = api
        .post("experiments/create", json!({"name": "keep"}))
        .await;
    let exp = v["experiment_id"].as_str().unwrap().to_owned();
    let (_, v) = api.post("runs/create", json!({"experiment_id": exp})).await;
    let run_id = v["run"]["info"]["run_id"].as_str().unwrap().to_owned();
    api.post(
        "runs/log-batch",
        json!({"run_id": run_id, "params": [{"key": "p", "value": "1"}]}),
    )
    .await;

    let (s, v) = api.post("experiments/create", json!({})).await;
    assert_eq!(
        (s, v["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMETER_VALUE"))
    );
    assert_eq!(v["message"], "Missing value for required parameter 'name'. See the API docs for more information about request parameters.");
    let (s, v) = api.post("experiments/create", json!({"name": 5})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid value 5 for parameter 'name' supplied"));
    let (s, v) = api
        .post("experiments/create", json!({"name": "keep"}))
        .await;
    assert_eq!(
        (s, v["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("RESOURCE_ALREADY_EXISTS"))
    );

    let (s, b, _) = api
        .raw(
            "POST",
            "/api/2.0/mlflow/runs/create",
            Some("application/json"),
            b"{\"experiment_id\": \"0\", ".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b, _) = api
        .raw(
            "POST",
            "/api/2.0/mlflow/runs/create",
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.contains("Content-Type must be one of ['application/json']"));
    let (s, b, _) = api
        .raw("POST", "/api/2.0/mlflow/runs/create", None, b"{}".to_vec())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b.contains("Content-Type header is missing."));
    let (s, _, _) = api
        .raw(
            "POST",
            "/api/2.0/mlflow/runs/create",
            Some("application/json"),
            b"[1,2]".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, v) = api.get("runs/get").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "Missing value for required parameter 'run_id'. See the API docs for more information about request parameters.");
    let (s, v) = api.get("experiments/get?experiment_id=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["message"],
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."
    );
    let (s, v) = api.get("experiments/get?experiment_id=99999").await;
    assert_eq!(
        (s, v["message"].as_str()),
        (
            StatusCode::NOT_FOUND,
            Some("No Experiment with id=99999 exists")
        )
    );
    let (s, v) = api
        .post(
            "runs/search",
            json!({"experiment_ids": ["0"], "max_results": 100000}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid value 100000 for parameter 'max_results'"));
    let (s, v) = api
        .post("runs/log-metric", json!({"run_id": "0123456789abcdef0123456789abcdef", "key": "m", "value": 1.0, "timestamp": 1}))
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (
            StatusCode::NOT_FOUND,
            Some("Run with id=0123456789abcdef0123456789abcdef not found")
        )
    );
    let (s, v) = api
        .post(
            "runs/log-metric",
            json!({"run_id": run_id, "key": "m", "value": "abc", "timestamp": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = api
        .post(
            "runs/log-metric",
            json!({"run_id": run_id, "key": "../etc", "value": 1, "timestamp": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = api
        .post(
            "runs/search",
            json!({"experiment_ids": [exp], "filter": "metrics.accuracy >>> 1"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["message"],
        "Invalid comparator '>>>' not one of '{'=', '>', '<=', '!=', '<', '>='}'"
    );
    for f in [
        "params.p = 'x'' OR 1=1 --'",
        "; DROP TABLE runs; --",
        "params.p = '1'; DELETE FROM runs",
        "tags.`a` = 'b'); DROP TABLE runs; --",
    ] {
        let (s, v) = api
            .post("runs/search", json!({"experiment_ids": [exp], "filter": f}))
            .await;
        assert!(
            s == StatusCode::OK || s == StatusCode::BAD_REQUEST,
            "{f}: {s}"
        );
        if s == StatusCode::OK {
            assert!(v.get("runs").is_none(), "{f} must match nothing: {v}");
        }
    }
    let big = vec![b'x'; 2 * 1024 * 1024];
    let (s, _, _) = api
        .raw(
            "POST",
            "/api/2.0/mlflow/runs/log-batch",
            Some("application/json"),
            big,
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"key": format!("m{i}"), "value": 1, "timestamp": 1}))
        .collect();
    let (s, _) = api
        .post(
            "runs/log-batch",
            json!({"run_id": run_id, "metrics": too_many}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Routing errors look like MLflow's (HTML 404/405).
    let (s, b, ct) = api
        .raw("GET", "/api/2.0/mlflow/unknown-endpoint", None, vec![])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(b.contains("404 Not Found") && ct.unwrap().starts_with("text/html"));
    // ... except on KServe's paths (mounted by --serve-model), whose clients read {"error"}.
    let (s, b, _) = api.raw("GET", "/v2/models/none/nope", None, vec![]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("/v2/models/none/nope"),
        "{b}"
    );
    let (s, b, _) = api
        .raw(
            "GET",
            "/api/2.0/mlflow/runs/search?experiment_ids=0",
            None,
            vec![],
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(b.contains("405 Method Not Allowed"));
    let (s, _, _) = api
        .raw(
            "POST",
            "/api/2.0/mlflow/experiments/get-by-name",
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);

    // Nothing stored was lost.
    let (_, v) = api.get(&format!("runs/get?run_id={run_id}")).await;
    assert_eq!(
        v["run"]["data"]["params"],
        json!([{"key": "p", "value": "1"}])
    );
    assert!(v["run"]["data"].get("metrics").is_none());
    let (_, v) = api
        .post("runs/search", json!({"experiment_ids": [exp]}))
        .await;
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn health_version_metrics() {
    let api = Api::new().await;
    let (s, b, _) = api.raw("GET", "/health", None, vec![]).await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "OK"));
    let (s, b, _) = api.raw("GET", "/version", None, vec![]).await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "3.17.2"));
    let (s, b, _) = api
        .raw("GET", "/api/3.0/mlflow/server-info", None, vec![])
        .await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["multipart_downloads_enabled"], false);
    api.raw(
        "GET",
        "/api/2.0/mlflow/experiments/get?experiment_id=0",
        None,
        vec![],
    )
    .await;
    let (s, b, _) = api.raw("GET", "/metrics", None, vec![]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.contains("weir_http_requests_total"), "{b}");
    assert!(
        b.contains("route=\"/api/2.0/mlflow/experiments/get\""),
        "{b}"
    );
}

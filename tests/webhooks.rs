//! Registry webhooks against real `weir server` processes and a real HTTP receiver on
//! 127.0.0.1: MLflow's API and payloads, signatures, the SSRF guard, retries while the receiver
//! is down (order per model kept), and exactly one delivery per event across two replicas on
//! one PostgreSQL, also when one replica is killed mid-run.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "receiver-shared-secret";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    at: Instant,
    delivery_id: String,
    timestamp: String,
    signature: Option<String>,
    body: String,
    /// What the receiver answered.
    answered: u16,
}

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    /// The status the receiver answers with (503 plays "down").
    answer: Arc<AtomicU16>,
    url: String,
}

impl Receiver {
    async fn start() -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(AtomicU16::new(200));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let r = Receiver {
            got,
            answer,
            url: format!("http://{addr}/hook"),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    /// Requests answered 2xx.
    fn delivered(&self) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.answered < 300)
            .cloned()
            .collect()
    }

    /// Waits until `n` distinct deliveries were acknowledged; returns every acknowledged request.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Got> {
        let deadline = Instant::now() + within;
        loop {
            let d = self.delivered();
            let distinct: HashSet<&str> = d.iter().map(|g| g.delivery_id.as_str()).collect();
            if distinct.len() >= n || Instant::now() > deadline {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let answered = r.answer.load(Ordering::SeqCst);
    r.got.lock().unwrap().push(Got {
        at: Instant::now(),
        delivery_id: h("x-mlflow-delivery-id").unwrap_or_default(),
        timestamp: h("x-mlflow-timestamp").unwrap_or_default(),
        signature: h("x-mlflow-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

/// What a receiver does to trust a delivery: recompute the HMAC, compare in constant time.
fn verify(g: &Got, secret: &str) -> bool {
    let Some(sig) = g.signature.as_deref().and_then(|s| s.strip_prefix("v1,")) else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}.{}", g.delivery_id, g.timestamp, g.body).as_bytes());
    mac.verify_slice(&raw).is_ok()
}

fn open_targets() -> Vec<(&'static str, String)> {
    vec![
        ("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https".into()),
        ("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true".into()),
        (
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY",
            "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=".into(),
        ),
        ("MLFLOW_WEBHOOK_REQUEST_TIMEOUT", "2".into()),
    ]
}

fn start(args: &[&str], env: &[(&'static str, String)]) -> common::ServerProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    common::ServerProcess::start(args, &env)
}

async fn call(method: reqwest::Method, url: String, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn api(s: &common::ServerProcess, p: &str) -> String {
    format!("{}/api/2.0/mlflow/{p}", s.url)
}

async fn post(s: &common::ServerProcess, p: &str, body: Value) -> Value {
    let (st, v) = call(reqwest::Method::POST, api(s, p), body).await;
    assert_eq!(st, 200, "POST {p}: {v}");
    v
}

fn all_model_events() -> Value {
    json!([
        {"entity": "REGISTERED_MODEL", "action": "CREATED"},
        {"entity": "MODEL_VERSION", "action": "CREATED"},
        {"entity": "MODEL_VERSION_TAG", "action": "SET"},
        {"entity": "MODEL_VERSION_TAG", "action": "DELETED"},
        {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"},
        {"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"},
    ])
}

async fn backend_uri(backend: &str) -> (Vec<String>, Option<String>) {
    if backend == "postgres" {
        let (uri, db) = common::create_pg_database().await;
        (vec!["--backend-store-uri".into(), uri], Some(db))
    } else {
        (Vec::new(), None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_payloads_and_signatures_match_mlflow() {
    for backend in common::backends() {
        let (args, db) = backend_uri(backend).await;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = start(&args, &open_targets());
        let rx = Receiver::start().await;

        // Create: the secret is accepted and never shown again.
        let created = post(
            &server,
            "webhooks",
            json!({"name": "deploy-hook", "url": rx.url, "events": all_model_events(),
                   "secret": SECRET, "description": "CI/CD"}),
        )
        .await;
        let hook = &created["webhook"];
        let id = hook["webhook_id"].as_str().unwrap().to_owned();
        assert_eq!(hook["status"], "ACTIVE");
        assert_eq!(hook["events"].as_array().unwrap().len(), 6);
        assert!(hook.get("secret").is_none(), "{hook}");
        let (st, got) = call(
            reqwest::Method::GET,
            api(&server, &format!("webhooks/{id}")),
            json!({}),
        )
        .await;
        assert_eq!(st, 200);
        assert!(!got.to_string().contains(SECRET));
        let (_, listed) = call(reqwest::Method::GET, api(&server, "webhooks"), json!({})).await;
        assert!(!listed.to_string().contains(SECRET));
        assert_eq!(listed["webhooks"][0]["webhook_id"], id.as_str());

        // Every registry change the webhook listens to, in order.
        post(
            &server,
            "registered-models/create",
            json!({"name": "churn", "tags": [{"key": "team", "value": "risk"}]}),
        )
        .await;
        post(
            &server,
            "model-versions/create",
            json!({"name": "churn", "source": "s3://bucket/churn/1", "description": "first"}),
        )
        .await;
        post(
            &server,
            "model-versions/set-tag",
            json!({"name": "churn", "version": "1", "key": "validated", "value": "yes"}),
        )
        .await;
        let (st, _) = call(
            reqwest::Method::DELETE,
            api(&server, "model-versions/delete-tag"),
            json!({"name": "churn", "version": "1", "key": "validated"}),
        )
        .await;
        assert_eq!(st, 200);
        post(
            &server,
            "registered-models/alias",
            json!({"name": "churn", "alias": "champion", "version": "1"}),
        )
        .await;
        let (st, _) = call(
            reqwest::Method::DELETE,
            api(&server, "registered-models/alias"),
            json!({"name": "churn", "alias": "champion"}),
        )
        .await;
        assert_eq!(st, 200);

        let got = rx.wait_for(6, Duration::from_secs(20)).await;
        assert_eq!(got.len(), 6, "{backend}: {got:#?}");
        let bodies: Vec<Value> = got
            .iter()
            .map(|g| serde_json::from_str(&g.body).unwrap())
            .collect();
        let kinds: Vec<String> = bodies
            .iter()
            .map(|b| {
                format!(
                    "{}.{}",
                    b["entity"].as_str().unwrap(),
                    b["action"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "registered_model.created",
                "model_version.created",
                "model_version_tag.set",
                "model_version_tag.deleted",
                "model_version_alias.created",
                "model_version_alias.deleted"
            ]
        );
        assert_eq!(
            bodies[0]["data"],
            json!({"name": "churn", "tags": {"team": "risk"}, "description": null})
        );
        assert_eq!(
            bodies[1]["data"],
            json!({"name": "churn", "version": "1", "source": "s3://bucket/churn/1", "run_id": null, "tags": {}, "description": "first"})
        );
        assert_eq!(
            bodies[2]["data"],
            json!({"name": "churn", "version": "1", "key": "validated", "value": "yes"})
        );
        assert_eq!(
            bodies[3]["data"],
            json!({"name": "churn", "version": "1", "key": "validated"})
        );
        assert_eq!(
            bodies[4]["data"],
            json!({"name": "churn", "alias": "champion", "version": "1"})
        );
        assert_eq!(
            bodies[5]["data"],
            json!({"name": "churn", "alias": "champion"})
        );
        for (g, b) in got.iter().zip(&bodies) {
            assert!(verify(g, SECRET), "bad signature on {}", g.body);
            assert!(!verify(g, "another secret"));
            assert!(b["timestamp"].as_str().unwrap().ends_with('Z'));
            assert_eq!(
                uuid::Uuid::parse_str(&g.delivery_id)
                    .unwrap()
                    .get_version_num(),
                4
            );
        }
        let ids: HashSet<&str> = got.iter().map(|g| g.delivery_id.as_str()).collect();
        assert_eq!(ids.len(), 6);

        // The test endpoint sends an example payload of the chosen event, signed.
        let tested = post(
            &server,
            &format!("webhooks/{id}/test"),
            json!({"event": {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}}),
        )
        .await;
        assert_eq!(tested["result"]["success"], true, "{tested}");
        assert_eq!(tested["result"]["response_status"], 200);
        let got = rx.wait_for(7, Duration::from_secs(5)).await;
        let last: Value = serde_json::from_str(&got[6].body).unwrap();
        assert_eq!(
            last["data"],
            json!({"name": "example_model", "alias": "example_alias", "version": "1"})
        );
        assert!(verify(&got[6], SECRET));

        // A disabled webhook receives nothing; the delivery log says what happened.
        let (st, upd) = call(
            reqwest::Method::PATCH,
            api(&server, &format!("webhooks/{id}")),
            json!({"status": "DISABLED"}),
        )
        .await;
        assert_eq!(st, 200, "{upd}");
        assert_eq!(upd["webhook"]["status"], "DISABLED");
        assert_eq!(upd["webhook"]["name"], "deploy-hook");
        post(
            &server,
            "registered-models/alias",
            json!({"name": "churn", "alias": "champion", "version": "1"}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(rx.delivered().len(), 7);
        let (st, log) = call(
            reqwest::Method::GET,
            format!(
                "{}/ajax-api/2.0/weir/webhooks/deliveries?name=churn",
                server.url
            ),
            json!({}),
        )
        .await;
        assert_eq!(st, 200);
        let log = log["deliveries"].as_array().unwrap();
        assert_eq!(log.len(), 6);
        assert!(
            log.iter()
                .all(|d| d["state"] == "delivered" && d["attempts"] == 1),
            "{log:?}"
        );

        // Prometheus counts each attempt by event and outcome.
        let metrics = reqwest::get(format!("{}/metrics", server.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(
                "weir_webhook_deliveries_total{event=\"model_version_alias.created\",outcome=\"delivered\"} 1"
            ),
            "{metrics}"
        );
        assert!(metrics.contains("weir_webhook_delivery_latency_seconds_count"));

        // A prompt (a registered model tagged mlflow.prompt.is_prompt) fires the prompt events,
        // without its marker tags, and not the model ones.
        let (_, p) = call(
            reqwest::Method::POST,
            api(&server, "webhooks"),
            json!({"name": "prompts", "url": rx.url, "secret": SECRET, "events": [
                {"entity": "PROMPT", "action": "CREATED"},
                {"entity": "PROMPT_ALIAS", "action": "CREATED"}]}),
        )
        .await;
        let prompt_hook = p["webhook"]["webhook_id"].as_str().unwrap().to_owned();
        post(
            &server,
            "registered-models/create",
            json!({"name": "greeting", "tags": [
                {"key": "mlflow.prompt.is_prompt", "value": "true"}, {"key": "lang", "value": "en"}]}),
        )
        .await;
        post(
            &server,
            "model-versions/create",
            json!({"name": "greeting", "source": "s3://bucket/greeting/1"}),
        )
        .await;
        post(
            &server,
            "registered-models/alias",
            json!({"name": "greeting", "alias": "live", "version": "1"}),
        )
        .await;
        let got = rx.wait_for(9, Duration::from_secs(10)).await;
        let prompt_events: Vec<Value> = got[7..]
            .iter()
            .map(|g| serde_json::from_str(&g.body).unwrap())
            .collect();
        assert_eq!(prompt_events.len(), 2, "{prompt_events:?}");
        assert_eq!(prompt_events[0]["entity"], "prompt");
        assert_eq!(
            prompt_events[0]["data"],
            json!({"name": "greeting", "tags": {"lang": "en"}, "description": null})
        );
        assert_eq!(prompt_events[1]["entity"], "prompt_alias");
        assert_eq!(
            prompt_events[1]["data"],
            json!({"name": "greeting", "alias": "live", "version": "1"})
        );
        let (st, _) = call(
            reqwest::Method::DELETE,
            api(&server, &format!("webhooks/{prompt_hook}")),
            json!({}),
        )
        .await;
        assert_eq!(st, 200);

        // Errors in MLflow's shape.
        let (st, e) = call(
            reqwest::Method::GET,
            api(&server, "webhooks/nonexistent"),
            json!({}),
        )
        .await;
        assert_eq!(
            (st, e["error_code"].as_str()),
            (404, Some("RESOURCE_DOES_NOT_EXIST"))
        );
        assert_eq!(e["message"], "Webhook with ID nonexistent not found.");
        for (body, want) in [
            (
                json!({"name": "x", "url": rx.url, "events": []}),
                "non-empty list",
            ),
            (
                json!({"name": "-bad-", "url": rx.url, "events": all_model_events()}),
                "is invalid",
            ),
            (
                json!({"name": "x", "url": "ftp://h/x", "events": all_model_events()}),
                "Invalid webhook URL scheme",
            ),
            (
                json!({"name": "x", "url": rx.url, "events": [{"entity": "MODEL_VERSION", "action": "DELETED"}]}),
                "Invalid action",
            ),
            (
                json!({"name": "x", "url": rx.url, "events": "MODEL_VERSION"}),
                "events",
            ),
            (json!({"url": rx.url, "events": all_model_events()}), "name"),
        ] {
            let (st, e) = call(
                reqwest::Method::POST,
                api(&server, "webhooks"),
                body.clone(),
            )
            .await;
            assert_eq!(st, 400, "{body}: {e}");
            assert_eq!(e["error_code"], "INVALID_PARAMETER_VALUE", "{body}: {e}");
            assert!(e["message"].as_str().unwrap().contains(want), "{body}: {e}");
        }
        let (st, _) = call(
            reqwest::Method::DELETE,
            api(&server, &format!("webhooks/{id}")),
            json!({}),
        )
        .await;
        assert_eq!(st, 200);
        let (st, _) = call(
            reqwest::Method::DELETE,
            api(&server, &format!("webhooks/{id}")),
            json!({}),
        )
        .await;
        assert_eq!(st, 404);
        drop(server);
        if let Some(db) = db {
            common::drop_pg_database(&db).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_by_default() {
    // MLflow's defaults: https only, public addresses only.
    let server = start(&[], &[]);
    let events = all_model_events();
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/hook",
        "https://0.0.0.0/hook",
    ] {
        let (st, e) = call(
            reqwest::Method::POST,
            api(&server, "webhooks"),
            json!({"name": "x", "url": url, "events": events}),
        )
        .await;
        assert_eq!(st, 400, "{url}: {e}");
        assert_eq!(e["error_code"], "INVALID_PARAMETER_VALUE", "{url}: {e}");
    }
    // http allowed, private still refused: a loopback receiver is out of reach.
    let rx = Receiver::start().await;
    let server = start(
        &[],
        &[("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https".into())],
    );
    let (st, e) = call(
        reqwest::Method::POST,
        api(&server, "webhooks"),
        json!({"name": "x", "url": rx.url, "events": events}),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("non-public IP"),
        "{e}"
    );
    assert!(rx.got.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receiver_down_then_up_gets_every_event_in_order() {
    let server = start(&[], &open_targets());
    let rx = Receiver::start().await;
    post(
        &server,
        "webhooks",
        json!({"name": "flaky", "url": rx.url, "events": [{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}]}),
    )
    .await;
    rx.answer.store(503, Ordering::SeqCst);
    for m in ["a", "b"] {
        post(&server, "registered-models/create", json!({"name": m})).await;
        for i in 0..10 {
            post(
                &server,
                "model-versions/create",
                json!({"name": m, "source": format!("s3://b/{m}/{i}")}),
            )
            .await;
        }
    }
    for i in 1..=10 {
        for m in ["a", "b"] {
            post(
                &server,
                "registered-models/alias",
                json!({"name": m, "alias": "live", "version": i.to_string()}),
            )
            .await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(rx.delivered().is_empty());
    assert!(!rx.got.lock().unwrap().is_empty(), "no attempt while down");
    rx.answer.store(200, Ordering::SeqCst);
    let got = rx.wait_for(20, Duration::from_secs(40)).await;
    assert_eq!(got.len(), 20, "{got:#?}");
    let mut per_model: HashMap<String, Vec<i64>> = HashMap::new();
    for g in &got {
        let b: Value = serde_json::from_str(&g.body).unwrap();
        per_model
            .entry(b["data"]["name"].as_str().unwrap().to_owned())
            .or_default()
            .push(b["data"]["version"].as_str().unwrap().parse().unwrap());
    }
    for m in ["a", "b"] {
        assert_eq!(
            per_model[m],
            (1..=10).collect::<Vec<_>>(),
            "model {m} out of order"
        );
    }
    // Retries keep the delivery id: the ids that failed first are among those delivered.
    let delivered: HashSet<String> = got.iter().map(|g| g.delivery_id.clone()).collect();
    assert_eq!(delivered.len(), 20);
    let attempted: HashSet<String> = rx
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|g| g.delivery_id.clone())
        .collect();
    assert_eq!(attempted, delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_deliver_each_event_exactly_once() {
    if !common::postgres_enabled("two_replicas_deliver_each_event_exactly_once") {
        return;
    }
    let (uri, db) = common::create_pg_database().await;
    let env = open_targets();
    let a = start(&["--backend-store-uri", &uri], &env);
    let mut b = start(&["--backend-store-uri", &uri], &env);
    let rx = Receiver::start().await;
    post(
        &a,
        "webhooks",
        json!({"name": "promote", "url": rx.url, "secret": SECRET,
               "events": [{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}]}),
    )
    .await;
    for m in ["m0", "m1", "m2", "m3"] {
        post(&a, "registered-models/create", json!({"name": m})).await;
        for i in 0..3 {
            post(
                &b,
                "model-versions/create",
                json!({"name": m, "source": format!("s3://b/{m}/{i}")}),
            )
            .await;
        }
    }

    // 100 alias moves over both replicas, 8 at a time; time each one to its delivery.
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let moves = |round: usize, count: usize, only_a: bool| {
        let (a_url, b_url) = (a.url.clone(), b.url.clone());
        let sent_at = sent_at.clone();
        async move {
            let sem = Arc::new(tokio::sync::Semaphore::new(8));
            let mut tasks = Vec::new();
            for i in 0..count {
                let base = if only_a || i % 2 == 0 {
                    a_url.clone()
                } else {
                    b_url.clone()
                };
                let m = format!("m{}", i % 4);
                let version = ((i / 4) % 3 + 1).to_string();
                let alias = format!("r{round}-{i}");
                let sem = sem.clone();
                let sent_at = sent_at.clone();
                tasks.push(tokio::spawn(async move {
                    let _p = sem.acquire().await.unwrap();
                    let (st, v) = call(
                        reqwest::Method::POST,
                        format!("{base}/api/2.0/mlflow/registered-models/alias"),
                        json!({"name": m, "alias": alias, "version": version}),
                    )
                    .await;
                    assert_eq!(st, 200, "{v}");
                    sent_at.lock().unwrap().insert(alias, Instant::now());
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    moves(1, 100, false).await;
    let got = rx.wait_for(100, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got_all = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 100, "delivered {} of 100", got.len());
    assert_eq!(got_all.len(), 100, "some event was sent twice");
    let ids: HashSet<&str> = got.iter().map(|g| g.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), 100);
    assert!(got.iter().all(|g| verify(g, SECRET)));
    let mut lat: Vec<f64> = got
        .iter()
        .map(|g| {
            let b: Value = serde_json::from_str(&g.body).unwrap();
            let alias = b["data"]["alias"].as_str().unwrap();
            let sent = sent_at.lock().unwrap()[alias];
            g.at.saturating_duration_since(sent).as_secs_f64() * 1000.0
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    eprintln!(
        "webhook delivery latency, 100 alias moves over 2 replicas: p50 {:.1} ms, p99 {:.1} ms",
        lat[49], lat[98]
    );

    // Kill one replica mid-run: whatever it had claimed is sent by the other after its lease.
    let killer = {
        let pid = b.child.id();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        })
    };
    moves(2, 100, true).await;
    killer.await.unwrap();
    let _ = b.child.wait();
    let got = rx.wait_for(200, Duration::from_secs(60)).await;
    let ids: HashSet<&str> = got.iter().map(|g| g.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), 200, "lost events after a replica died");
    let aliases: HashSet<String> = got
        .iter()
        .map(|g| {
            serde_json::from_str::<Value>(&g.body).unwrap()["data"]["alias"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(aliases.len(), 200);
    drop(a);
    drop(b);
    common::drop_pg_database(&db).await;
}

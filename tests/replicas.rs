//! Two real `weir server` processes on one PostgreSQL database, as two replicas behind a
//! Service: version numbers stay unique and gapless under concurrent registration, and
//! concurrent alias moves leave one consistent answer.

mod common;

use serde_json::{json, Value};

fn start(backend_uri: &str) -> common::ServerProcess {
    common::ServerProcess::start(&["--backend-store-uri", backend_uri], &[])
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> (u16, Value) {
    let resp = client
        .request(method, url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_version_numbers_and_aliases() {
    if !common::postgres_enabled("two_replicas_share_version_numbers_and_aliases") {
        return;
    }
    let (uri, db) = common::create_pg_database().await;
    // Start both at once: migrations must apply exactly once under the advisory lock.
    let (a, b) = std::thread::scope(|s| {
        let ha = s.spawn(|| start(&uri));
        let hb = s.spawn(|| start(&uri));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let client = reqwest::Client::new();
    let api = |s: &common::ServerProcess, p: &str| format!("{}/api/2.0/mlflow/{p}", s.url);

    let (st, _) = call(
        &client,
        reqwest::Method::POST,
        api(&a, "registered-models/create"),
        json!({"name": "shared"}),
    )
    .await;
    assert_eq!(st, 200);

    let mut tasks = Vec::new();
    for i in 0..32 {
        let url = api(if i % 2 == 0 { &a } else { &b }, "model-versions/create");
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            call(
                &client,
                reqwest::Method::POST,
                url,
                json!({"name": "shared", "source": format!("s3://bucket/model-{i}")}),
            )
            .await
        }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        let (st, v) = t.await.unwrap();
        assert_eq!(st, 200, "{v}");
        versions.push(
            v["model_version"]["version"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap(),
        );
    }
    versions.sort();
    assert_eq!(versions, (1..=32).collect::<Vec<_>>());

    // Concurrent alias moves from both replicas: afterwards both agree, and the history holds
    // every move with from/to chaining without gaps.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let url = api(if i % 2 == 0 { &a } else { &b }, "registered-models/alias");
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            call(
                &client,
                reqwest::Method::POST,
                url,
                json!({"name": "shared", "alias": "champion", "version": (i % 5 + 1).to_string()}),
            )
            .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().0, 200);
    }
    let get = |s: &common::ServerProcess| {
        format!(
            "{}?name=shared&alias=champion",
            api(s, "registered-models/alias")
        )
    };
    let va = client
        .get(get(&a))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let vb = client
        .get(get(&b))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        va["model_version"]["version"],
        vb["model_version"]["version"]
    );
    let hist: Value = client
        .get(format!(
            "{}/api/2.0/weir/registered-models/alias-history?name=shared&alias=champion",
            a.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = hist["events"].as_array().unwrap();
    assert!(!events.is_empty());
    for w in events.windows(2) {
        assert_eq!(
            w[0]["to_version"], w[1]["from_version"],
            "history chains: {hist}"
        );
    }
    assert_eq!(
        events.last().unwrap()["to_version"],
        va["model_version"]["version"]
    );

    drop(a);
    drop(b);
    common::drop_pg_database(&db).await;
}

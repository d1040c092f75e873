//! The basic-auth app (`weir server --app-name basic-auth`) as a process, on SQLite and
//! PostgreSQL: the permission matrix (route group × admin, owner, READ, EDIT, MANAGE,
//! NO_PERMISSIONS, anonymous), search results filtered to what the caller may read, the user and
//! grant API's rules, the creator's grant, the run's user, and brute-force slowdown.

mod common;

use common::ServerProcess;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const ADMIN_PW: &str = "admin password for tests";
const PW: &str = "user password for tests";

struct Api {
    client: Client,
    url: String,
}

impl Api {
    async fn call(
        &self,
        who: Option<(&str, &str)>,
        method: Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, String) {
        let url = format!("{}{path}", self.url);
        let mut req = if method == Method::GET {
            let q: Vec<(String, String)> = body
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.client.get(&url).query(&q)
        } else {
            self.client.request(method, &url).json(&body)
        };
        if let Some((u, p)) = who {
            req = req.basic_auth(u, Some(p));
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.text().await.unwrap())
    }

    async fn ok(&self, who: (&str, &str), method: Method, path: &str, body: Value) -> Value {
        let (s, text) = self.call(Some(who), method, path, body).await;
        assert_eq!(s, 200, "{path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

const ADMIN: (&str, &str) = ("admin", ADMIN_PW);

fn start(backend_uri: Option<&str>) -> ServerProcess {
    let mut args = vec!["--app-name", "basic-auth"];
    if let Some(uri) = backend_uri {
        args.extend(["--backend-store-uri", uri]);
    }
    ServerProcess::start(&args, &[("MLFLOW_AUTH_ADMIN_PASSWORD", ADMIN_PW)])
}

async fn matrix(server: &ServerProcess) {
    let api = Api {
        client: Client::new(),
        url: server.url.clone(),
    };
    const M: &str = "/api/2.0/mlflow";
    // Open routes, and everything else closed to anonymous callers and wrong passwords.
    assert_eq!(
        api.call(None, Method::GET, "/health", json!({})).await.0,
        200
    );
    assert_eq!(
        api.call(None, Method::GET, "/api/3.0/mlflow/server-info", json!({}))
            .await
            .0,
        200
    );
    let (s, body) = api.call(None, Method::GET, "/metrics", json!({})).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("You are not authenticated"));
    let (s, _) = api
        .call(
            Some(("admin", "wrong password!!")),
            Method::GET,
            &format!("{M}/experiments/search"),
            json!({}),
        )
        .await;
    assert_eq!(s, 401);

    for u in ["alice", "bob", "carol", "dave", "erin"] {
        let user = api
            .ok(
                ADMIN,
                Method::POST,
                &format!("{M}/users/create"),
                json!({"username": u, "password": PW}),
            )
            .await;
        assert_eq!(user["user"]["username"], u);
        assert_eq!(user["user"]["is_admin"], false);
    }
    let (s, text) = api
        .call(
            Some(ADMIN),
            Method::POST,
            &format!("{M}/users/create"),
            json!({"username": "x", "password": "short"}),
        )
        .await;
    assert_eq!(s, 400, "{text}");
    let (s, _) = api
        .call(
            Some(("bob", PW)),
            Method::POST,
            &format!("{M}/users/create"),
            json!({"username": "y", "password": PW}),
        )
        .await;
    assert_eq!(s, 403, "only admins create users");

    // alice owns an experiment, a run in it and a registered model.
    let alice = ("alice", PW);
    let exp = api
        .ok(
            alice,
            Method::POST,
            &format!("{M}/experiments/create"),
            json!({"name": "alice-exp"}),
        )
        .await["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = api
        .ok(
            alice,
            Method::POST,
            &format!("{M}/runs/create"),
            json!({"experiment_id": exp}),
        )
        .await;
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_owned();
    // The signed-in user is the run's user.
    assert_eq!(run["run"]["info"]["user_id"], "alice");
    let tags = run["run"]["data"]["tags"].as_array().unwrap();
    assert!(
        tags.iter()
            .any(|t| t["key"] == "mlflow.user" && t["value"] == "alice"),
        "{tags:?}"
    );
    api.ok(
        alice,
        Method::POST,
        &format!("{M}/registered-models/create"),
        json!({"name": "alice-model"}),
    )
    .await;
    api.ok(
        alice,
        Method::POST,
        &format!("{M}/model-versions/create"),
        json!({"name": "alice-model", "source": format!("runs:/{run_id}/model"), "run_id": run_id}),
    )
    .await;
    // The creator got MANAGE: alice grants the others (3.x API for the experiment, the older
    // per-resource API for the model).
    for (u, p) in [("bob", "READ"), ("carol", "EDIT"), ("dave", "MANAGE")] {
        api.ok(
            alice,
            Method::POST,
            "/api/3.0/mlflow/users/permissions/grant",
            json!({"username": u, "resource_type": "experiment", "resource_id": exp, "permission": p}),
        )
        .await;
        api.ok(
            alice,
            Method::POST,
            &format!("{M}/registered-models/permissions/create"),
            json!({"name": "alice-model", "username": u, "permission": p}),
        )
        .await;
    }
    // NO_PERMISSIONS: refused as a 3.x grant, accepted by the older API.
    let (s, text) = api
        .call(
            Some(alice),
            Method::POST,
            "/api/3.0/mlflow/users/permissions/grant",
            json!({"username": "erin", "resource_type": "experiment", "resource_id": exp, "permission": "NO_PERMISSIONS"}),
        )
        .await;
    assert_eq!(s, 400, "{text}");
    api.ok(
        alice,
        Method::POST,
        &format!("{M}/experiments/permissions/create"),
        json!({"experiment_id": exp, "username": "erin", "permission": "NO_PERMISSIONS"}),
    )
    .await;
    api.ok(
        alice,
        Method::POST,
        &format!("{M}/registered-models/permissions/create"),
        json!({"name": "alice-model", "username": "erin", "permission": "NO_PERMISSIONS"}),
    )
    .await;
    // Granting twice, revoking what is not granted.
    let (s, text) = api
        .call(
            Some(alice),
            Method::POST,
            "/api/3.0/mlflow/users/permissions/grant",
            json!({"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "EDIT"}),
        )
        .await;
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("RESOURCE_ALREADY_EXISTS"), "{text}");
    let (s, _) = api
        .call(
            Some(alice),
            Method::POST,
            "/api/3.0/mlflow/users/permissions/revoke",
            json!({"username": "admin", "resource_type": "experiment", "resource_id": exp}),
        )
        .await;
    assert_eq!(s, 404);
    // bob (READ) cannot grant.
    let (s, _) = api
        .call(
            Some(("bob", PW)),
            Method::POST,
            "/api/3.0/mlflow/users/permissions/grant",
            json!({"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "MANAGE"}),
        )
        .await;
    assert_eq!(s, 403);

    // The matrix: each route group, each caller.
    let callers: [(&str, Option<(&str, &str)>); 7] = [
        ("admin", Some(ADMIN)),
        ("owner", Some(alice)),
        ("READ", Some(("bob", PW))),
        ("EDIT", Some(("carol", PW))),
        ("MANAGE", Some(("dave", PW))),
        ("NO_PERMISSIONS", Some(("erin", PW))),
        ("anonymous", None),
    ];
    // Expected status per caller, in the order above.
    const READ: [u16; 7] = [200, 200, 200, 200, 200, 403, 401];
    const UPDATE: [u16; 7] = [200, 200, 403, 200, 200, 403, 401];
    const MANAGE: [u16; 7] = [200, 200, 403, 403, 200, 403, 401];
    let mut table = Vec::new();
    for (i, (label, who)) in callers.iter().enumerate() {
        let mut row = vec![label.to_string()];
        let checks: Vec<(&str, Method, String, Value, u16)> = vec![
            (
                "experiments/get",
                Method::GET,
                format!("{M}/experiments/get"),
                json!({"experiment_id": exp}),
                READ[i],
            ),
            (
                "runs/get",
                Method::GET,
                format!("{M}/runs/get"),
                json!({"run_id": run_id}),
                READ[i],
            ),
            (
                "metrics/get-history",
                Method::GET,
                format!("{M}/metrics/get-history"),
                json!({"run_id": run_id, "metric_key": "m"}),
                READ[i],
            ),
            (
                "registered-models/get",
                Method::GET,
                format!("{M}/registered-models/get"),
                json!({"name": "alice-model"}),
                READ[i],
            ),
            (
                "model-versions/get",
                Method::GET,
                format!("{M}/model-versions/get"),
                json!({"name": "alice-model", "version": "1"}),
                READ[i],
            ),
            (
                "artifacts (proxy list)",
                Method::GET,
                "/api/2.0/mlflow-artifacts/artifacts".to_owned(),
                json!({"path": format!("{exp}/{run_id}/artifacts")}),
                READ[i],
            ),
            (
                "runs/log-metric",
                Method::POST,
                format!("{M}/runs/log-metric"),
                json!({"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": i}),
                UPDATE[i],
            ),
            (
                "experiments/set-experiment-tag",
                Method::POST,
                format!("{M}/experiments/set-experiment-tag"),
                json!({"experiment_id": exp, "key": "k", "value": "v"}),
                UPDATE[i],
            ),
            (
                "registered-models/set-tag",
                Method::POST,
                format!("{M}/registered-models/set-tag"),
                json!({"name": "alice-model", "key": "k", "value": "v"}),
                UPDATE[i],
            ),
            (
                "registered-models/alias (set)",
                Method::POST,
                format!("{M}/registered-models/alias"),
                json!({"name": "alice-model", "alias": "champion", "version": "1"}),
                UPDATE[i],
            ),
            (
                "runs/create",
                Method::POST,
                format!("{M}/runs/create"),
                json!({"experiment_id": exp}),
                UPDATE[i],
            ),
            (
                "registered-models/alias (delete)",
                Method::DELETE,
                format!("{M}/registered-models/alias"),
                json!({"name": "alice-model", "alias": "champion"}),
                MANAGE[i],
            ),
            (
                "runs/delete",
                Method::POST,
                format!("{M}/runs/delete"),
                json!({"run_id": run_id}),
                MANAGE[i],
            ),
            (
                "runs/restore",
                Method::POST,
                format!("{M}/runs/restore"),
                json!({"run_id": run_id}),
                MANAGE[i],
            ),
        ];
        for (name, method, path, body, want) in checks {
            // The alias must exist for each delete attempt.
            if name == "registered-models/alias (delete)" {
                api.ok(
                    ADMIN,
                    Method::POST,
                    &format!("{M}/registered-models/alias"),
                    json!({"name": "alice-model", "alias": "champion", "version": "1"}),
                )
                .await;
            }
            if name == "runs/restore" && want != 200 {
                api.ok(
                    ADMIN,
                    Method::POST,
                    &format!("{M}/runs/delete"),
                    json!({"run_id": run_id}),
                )
                .await;
            }
            let (got, text) = api.call(*who, method, &path, body).await;
            assert_eq!(got.as_u16(), want, "{label} {name}: {text}");
            if want == 403 {
                assert_eq!(text, "Permission denied");
            }
            row.push(got.as_u16().to_string());
        }
        api.ok(
            ADMIN,
            Method::POST,
            &format!("{M}/runs/restore"),
            json!({"run_id": run_id}),
        )
        .await;
        table.push(row.join(" "));
    }
    println!("permission matrix:\n{}", table.join("\n"));

    // A resource that does not exist: 403 for a non-admin (nothing learned), 404 for an admin.
    let (s, _) = api
        .call(
            Some(("bob", PW)),
            Method::GET,
            &format!("{M}/experiments/get"),
            json!({"experiment_id": "987654"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = api
        .call(
            Some(ADMIN),
            Method::GET,
            &format!("{M}/experiments/get"),
            json!({"experiment_id": "987654"}),
        )
        .await;
    assert_eq!(s, 404);

    // Searches answer 200 with only what the caller may read.
    let names = |v: &Value, list: &str, key: &str| -> Vec<String> {
        v[list]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e[key].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let bob = api
        .ok(
            ("bob", PW),
            Method::POST,
            &format!("{M}/experiments/search"),
            json!({"max_results": 100}),
        )
        .await;
    assert!(names(&bob, "experiments", "name").contains(&"alice-exp".to_owned()));
    let erin = api
        .ok(
            ("erin", PW),
            Method::POST,
            &format!("{M}/experiments/search"),
            json!({"max_results": 100}),
        )
        .await;
    assert!(
        !names(&erin, "experiments", "name").contains(&"alice-exp".to_owned()),
        "{erin}"
    );
    assert!(
        names(&erin, "experiments", "name").contains(&"Default".to_owned()),
        "the default READ still shows the rest"
    );
    let erin = api
        .ok(
            ("erin", PW),
            Method::GET,
            &format!("{M}/registered-models/search"),
            json!({}),
        )
        .await;
    assert!(
        names(&erin, "registered_models", "name").is_empty(),
        "{erin}"
    );
    let erin = api
        .ok(
            ("erin", PW),
            Method::GET,
            &format!("{M}/model-versions/search"),
            json!({}),
        )
        .await;
    assert!(names(&erin, "model_versions", "name").is_empty(), "{erin}");
    let (s, _) = api
        .call(
            Some(("erin", PW)),
            Method::POST,
            &format!("{M}/runs/search"),
            json!({"experiment_ids": [exp]}),
        )
        .await;
    assert_eq!(s, 403);

    // Users: self or admin; a password change of one's own needs the current one; an admin
    // cannot delete themself; the old password stops working at once.
    assert_eq!(
        api.call(
            Some(("bob", PW)),
            Method::GET,
            &format!("{M}/users/get"),
            json!({"username": "bob"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.call(
            Some(("bob", PW)),
            Method::GET,
            &format!("{M}/users/get"),
            json!({"username": "carol"})
        )
        .await
        .0,
        403
    );
    let me = api
        .ok(
            ("bob", PW),
            Method::GET,
            &format!("{M}/users/current"),
            json!({}),
        )
        .await;
    assert_eq!(me["user"]["username"], "bob");
    assert_eq!(
        me["user"]["experiment_permissions"][0]["permission"],
        "READ"
    );
    let (s, text) = api
        .call(
            Some(("bob", PW)),
            Method::PATCH,
            &format!("{M}/users/update-password"),
            json!({"username": "bob", "password": "a brand new password"}),
        )
        .await;
    assert_eq!(s, 400, "{text}");
    api.ok(
        ("bob", PW),
        Method::PATCH,
        &format!("{M}/users/update-password"),
        json!({"username": "bob", "password": "a brand new password", "current_password": PW}),
    )
    .await;
    assert_eq!(
        api.call(
            Some(("bob", PW)),
            Method::GET,
            &format!("{M}/users/current"),
            json!({})
        )
        .await
        .0,
        401
    );
    assert_eq!(
        api.call(
            Some(("bob", "a brand new password")),
            Method::GET,
            &format!("{M}/users/current"),
            json!({})
        )
        .await
        .0,
        200
    );
    let (s, text) = api
        .call(
            Some(ADMIN),
            Method::DELETE,
            &format!("{M}/users/delete"),
            json!({"username": "admin"}),
        )
        .await;
    assert_eq!(s, 400, "{text}");
    api.ok(
        ADMIN,
        Method::DELETE,
        &format!("{M}/users/delete"),
        json!({"username": "erin"}),
    )
    .await;
    assert_eq!(
        api.call(
            Some(("erin", PW)),
            Method::GET,
            &format!("{M}/users/current"),
            json!({})
        )
        .await
        .0,
        401
    );
    let eff = api
        .ok(
            ADMIN,
            Method::GET,
            "/api/3.0/mlflow/users/permissions/get",
            json!({"username": "carol", "resource_type": "experiment", "resource_id": exp}),
        )
        .await;
    assert_eq!(eff, json!({"allowed": true, "permission": "EDIT"}));
    // A renamed model keeps its grants.
    api.ok(
        alice,
        Method::POST,
        &format!("{M}/registered-models/rename"),
        json!({"name": "alice-model", "new_name": "alice-model-2"}),
    )
    .await;
    assert_eq!(
        api.call(
            Some(("carol", PW)),
            Method::POST,
            &format!("{M}/registered-models/set-tag"),
            json!({"name": "alice-model-2", "key": "k", "value": "v"})
        )
        .await
        .0,
        200
    );

    // Guessing passwords is slowed down: after ten failures, 429 even for the right one.
    for _ in 0..10 {
        assert_eq!(
            api.call(
                Some(("dave", "not the password")),
                Method::GET,
                &format!("{M}/users/current"),
                json!({})
            )
            .await
            .0,
            401
        );
    }
    let (s, _) = api
        .call(
            Some(("dave", PW)),
            Method::GET,
            &format!("{M}/users/current"),
            json!({}),
        )
        .await;
    assert_eq!(s, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix_on_sqlite() {
    let server = start(None);
    matrix(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix_on_postgresql() {
    if !common::postgres_enabled("permission_matrix_on_postgresql") {
        return;
    }
    let (uri, db) = common::create_pg_database().await;
    let server = start(Some(&uri));
    matrix(&server).await;
    drop(server);
    common::drop_pg_database(&db).await;
}

#[test]
fn mlflows_old_default_admin_password_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "server",
            "--port",
            "0",
            "--app-name",
            "basic-auth",
            "--backend-store-uri",
        ])
        .arg(format!("sqlite:///{}", dir.path().join("m.db").display()))
        .current_dir(dir.path())
        .env("MLFLOW_AUTH_ADMIN_PASSWORD", "password1234")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GHSA-gq3w-7jj3-x7gr"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_password_the_admin_gets_a_random_one_printed_once() {
    let server = ServerProcess::start(&["--app-name", "basic-auth"], &[]);
    // The banner is written before the listener starts.
    let logs = server.log_text();
    let password = logs
        .lines()
        .skip_while(|l| !l.contains("created the admin user 'admin'"))
        .map(str::trim)
        .find(|l| l.len() == 24 && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| panic!("no password in the log:\n{logs}"))
        .to_owned();
    let r = Client::new()
        .get(format!("{}/api/2.0/mlflow/users/current", server.url))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Only a hash is stored.
    let db = std::fs::read(server.dir.path().join("mlflow.db")).unwrap();
    assert!(!db.windows(password.len()).any(|w| w == password.as_bytes()));
}

/// `Api::call` with any `Authorization` header (a bearer token, or junk).
async fn call_with(
    api: &Api,
    authorization: &str,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, String) {
    let url = format!("{}{path}", api.url);
    let req = if method == Method::GET {
        api.client.get(&url)
    } else {
        api.client.request(method, &url).json(&body)
    };
    let r = req
        .header(reqwest::header::AUTHORIZATION, authorization)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

/// Set a token's expiry in the past, straight in the database (no API makes one expire now).
async fn expire_token(db_url: &str, id: i64) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(db_url).await.unwrap();
    sqlx::query("UPDATE auth_tokens SET expires_at = 1 WHERE id = $1")
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
}

const T: &str = "/api/2.0/weir/users/tokens";

async fn tokens(server: &ServerProcess, db_url: &str) {
    let api = Api {
        client: Client::new(),
        url: server.url.clone(),
    };
    const M: &str = "/api/2.0/mlflow";
    for u in ["tara", "uma"] {
        api.ok(
            ADMIN,
            Method::POST,
            &format!("{M}/users/create"),
            json!({"username": u, "password": PW}),
        )
        .await;
    }
    let tara = ("tara", PW);
    // Created once: the token is in this answer and nowhere else.
    let made = api
        .ok(
            tara,
            Method::POST,
            &format!("{T}/create"),
            json!({"name": "ci"}),
        )
        .await;
    let token = made["token"].as_str().unwrap().to_owned();
    assert!(
        token.starts_with("weir_pat_") && token.len() == 73,
        "{made}"
    );
    assert_eq!(made["token_info"]["username"], "tara");
    assert_eq!(made["token_info"]["name"], "ci");
    assert!(made["token_info"]["expires_at"].is_null());
    let id = made["token_info"]["id"].as_i64().unwrap();
    let bearer = format!("Bearer {token}");

    // The token signs in as tara, for the API and for what the creator gets.
    let (s, me) = call_with(
        &api,
        &bearer,
        Method::GET,
        &format!("{M}/users/current"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{me}");
    assert!(me.contains("\"username\":\"tara\""), "{me}");
    let (s, text) = call_with(
        &api,
        &bearer,
        Method::POST,
        &format!("{M}/experiments/create"),
        json!({"name": "tara-by-token"}),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let exp: Value = serde_json::from_str(&text).unwrap();
    let (s, text) = call_with(
        &api,
        &bearer,
        Method::POST,
        &format!("{M}/runs/create"),
        json!({"experiment_id": exp["experiment_id"]}),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    assert!(text.contains("\"user_id\":\"tara\""), "{text}");

    // Listing shows metadata, never the secret or its digest.
    let (s, listed) = api
        .call(Some(tara), Method::GET, &format!("{T}/list"), json!({}))
        .await;
    assert_eq!(s, 200, "{listed}");
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    };
    assert!(
        !listed.contains(&token[9..]) && !listed.contains(&digest),
        "{listed}"
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["tokens"][0]["id"], id);
    assert_eq!(listed["tokens"][0]["name"], "ci");

    // Another user can neither list nor revoke tara's tokens; an admin can.
    let uma = ("uma", PW);
    let (s, text) = api
        .call(
            Some(uma),
            Method::GET,
            &format!("{T}/list"),
            json!({"username": "tara"}),
        )
        .await;
    assert_eq!(s, 403, "{text}");
    assert!(text.contains("PERMISSION_DENIED"), "{text}");
    let (s, text) = api
        .call(
            Some(uma),
            Method::POST,
            &format!("{T}/revoke"),
            json!({"token_id": id}),
        )
        .await;
    assert_eq!(s, 403, "{text}");
    let (s, text) = api
        .call(
            Some(uma),
            Method::POST,
            &format!("{T}/revoke"),
            json!({"token_id": 987654}),
        )
        .await;
    assert_eq!(s, 403, "a non-admin learns nothing of other tokens: {text}");
    let (s, _) = api
        .call(
            Some(uma),
            Method::POST,
            &format!("{T}/create"),
            json!({"name": "x", "username": "tara"}),
        )
        .await;
    assert_eq!(s, 403);
    let all = api
        .ok(
            ADMIN,
            Method::GET,
            &format!("{T}/list"),
            json!({"username": "tara"}),
        )
        .await;
    assert_eq!(all["tokens"].as_array().map(Vec::len), Some(1), "{all}");
    // The token still works after uma's attempts.
    let (s, _) = call_with(
        &api,
        &bearer,
        Method::GET,
        &format!("{M}/users/current"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200);

    // An admin makes a token for uma; it signs in as uma, until uma is deleted.
    let for_uma = api
        .ok(
            ADMIN,
            Method::POST,
            &format!("{T}/create"),
            json!({"name": "for uma", "username": "uma", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(for_uma["token_info"]["username"], "uma");
    assert!(for_uma["token_info"]["expires_at"].as_i64().unwrap() > 0);
    let uma_bearer = format!("Bearer {}", for_uma["token"].as_str().unwrap());
    let (s, me) = call_with(
        &api,
        &uma_bearer,
        Method::GET,
        &format!("{M}/users/current"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(me.contains("\"username\":\"uma\""), "{me}");
    // uma (not an admin) is still refused admin routes with her token.
    let (s, _) = call_with(
        &api,
        &uma_bearer,
        Method::GET,
        &format!("{M}/users/list"),
        json!({}),
    )
    .await;
    assert_eq!(s, 403);
    api.ok(
        ADMIN,
        Method::DELETE,
        &format!("{M}/users/delete"),
        json!({"username": "uma"}),
    )
    .await;
    let (s, _) = call_with(
        &api,
        &uma_bearer,
        Method::GET,
        &format!("{M}/users/current"),
        json!({}),
    )
    .await;
    assert_eq!(s, 401, "a deleted user's token");

    // Revoked: 401 at once (the credential cache is dropped), still listed as revoked.
    api.ok(
        tara,
        Method::POST,
        &format!("{T}/revoke"),
        json!({"token_id": id}),
    )
    .await;
    let (s, body) = call_with(
        &api,
        &bearer,
        Method::GET,
        &format!("{M}/users/current"),
        json!({}),
    )
    .await;
    assert_eq!(s, 401);
    assert!(body.contains("You are not authenticated"), "{body}");
    let listed = api
        .ok(tara, Method::GET, &format!("{T}/list"), json!({}))
        .await;
    assert!(
        listed["tokens"][0]["revoked_at"].as_i64().is_some(),
        "{listed}"
    );

    // Expired: 401.
    let second = api
        .ok(
            tara,
            Method::POST,
            &format!("{T}/create"),
            json!({"name": "short", "expires_in_days": 1}),
        )
        .await;
    expire_token(db_url, second["token_info"]["id"].as_i64().unwrap()).await;
    let (s, _) = call_with(
        &api,
        &format!("Bearer {}", second["token"].as_str().unwrap()),
        Method::GET,
        &format!("{M}/users/current"),
        json!({}),
    )
    .await;
    assert_eq!(s, 401, "an expired token");

    // Bad input: 400 in MLflow's shape.
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x", "expires_in_days": 0}),
        json!({"name": "x", "expires_in_days": 99999}),
        json!({"name": "x", "expires_in_days": "soon"}),
    ] {
        let (s, text) = api
            .call(
                Some(tara),
                Method::POST,
                &format!("{T}/create"),
                body.clone(),
            )
            .await;
        assert_eq!(s, 400, "{body}: {text}");
        assert!(text.contains("INVALID_PARAMETER_VALUE"), "{body}: {text}");
    }
    let (s, text) = api
        .call(
            Some(tara),
            Method::POST,
            &format!("{T}/revoke"),
            json!({"token_id": "abc"}),
        )
        .await;
    assert_eq!(s, 400, "{text}");
    let (s, text) = api
        .call(
            Some(ADMIN),
            Method::POST,
            &format!("{T}/revoke"),
            json!({"token_id": 987654}),
        )
        .await;
    assert_eq!(s, 404, "{text}");

    // Tokens of the wrong shape, or unknown: 401, never 500.
    let unknown = format!("weir_pat_{}", "0".repeat(64));
    for header in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer weir_pat_".to_owned(),
        "Bearer weir_pat_abc".to_owned(),
        format!("Bearer weir_pat_{}", "g".repeat(64)),
        format!("Bearer weir_pat_{}", "A".repeat(64)),
        format!("Bearer {}0", token),
        format!("Bearer {unknown}"),
        format!("Bearer {}", "x".repeat(5000)),
        format!("Token {token}"),
    ] {
        let (s, _) = call_with(
            &api,
            &header,
            Method::GET,
            &format!("{M}/users/current"),
            json!({}),
        )
        .await;
        assert_eq!(s, 401, "{header:.40}");
    }
    // Anonymous callers cannot reach the token routes.
    let (s, _) = api
        .call(None, Method::GET, &format!("{T}/list"), json!({}))
        .await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_on_sqlite() {
    let server = start(None);
    let db = format!("sqlite://{}", server.dir.path().join("mlflow.db").display());
    tokens(&server, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_on_postgresql() {
    if !common::postgres_enabled("access_tokens_on_postgresql") {
        return;
    }
    let (uri, db) = common::create_pg_database().await;
    let server = start(Some(&uri));
    tokens(&server, &uri.replacen("postgresql://", "postgres://", 1)).await;
    drop(server);
    common::drop_pg_database(&db).await;
}

/// Follow `next_page_token` through a search, `max_results` at a time; every page but the last
/// must be full. Returns the `key` of every item, in order.
async fn all_pages(
    api: &Api,
    who: (&str, &str),
    method: Method,
    path: &str,
    list: &str,
    key: &str,
    max_results: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let mut body = json!({"max_results": max_results});
        if let Some(t) = &token {
            body["page_token"] = json!(t);
        }
        let page = api.ok(who, method.clone(), path, body).await;
        let items: Vec<String> = page[list]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e[key].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        token = page["next_page_token"].as_str().map(str::to_owned);
        if token.is_some() {
            assert_eq!(
                items.len(),
                max_results,
                "{path}: a page that is not full: {page}"
            );
        }
        out.extend(items);
        if token.is_none() {
            return out;
        }
    }
    panic!("{path}: paging never ended");
}

/// [`all_pages`] for `logged-models/search` (POST, with `body`): the model ids, in order.
async fn all_pages_with(
    api: &Api,
    who: (&str, &str),
    path: &str,
    body: Value,
    max_results: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let mut b = body.clone();
        b["max_results"] = json!(max_results);
        if let Some(t) = &token {
            b["page_token"] = json!(t);
        }
        let page = api.ok(who, Method::POST, path, b).await;
        let items: Vec<String> = page["models"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["info"]["model_id"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        token = page["next_page_token"].as_str().map(str::to_owned);
        if token.is_some() {
            assert_eq!(
                items.len(),
                max_results,
                "{path}: a page that is not full: {page}"
            );
        }
        out.extend(items);
        if token.is_none() {
            return out;
        }
    }
    panic!("{path}: paging never ended");
}

/// A user who may read every other experiment and registered model pages through searches: full
/// pages, nothing skipped, nothing repeated. With `default_reads` the default permission is
/// READ and the others are denied by NO_PERMISSIONS grants; without, the default is
/// NO_PERMISSIONS and the readable ones are granted READ.
async fn paging(server: &ServerProcess, default_reads: bool) {
    let api = Api {
        client: Client::new(),
        url: server.url.clone(),
    };
    const M: &str = "/api/2.0/mlflow";
    api.ok(
        ADMIN,
        Method::POST,
        &format!("{M}/users/create"),
        json!({"username": "pat", "password": PW}),
    )
    .await;
    let default_exp = api
        .ok(
            ADMIN,
            Method::GET,
            &format!("{M}/experiments/get-by-name"),
            json!({"experiment_name": "Default"}),
        )
        .await["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = api
        .ok(
            ADMIN,
            Method::POST,
            &format!("{M}/runs/create"),
            json!({"experiment_id": default_exp}),
        )
        .await["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut readable_exps = Vec::new();
    let mut readable_models = Vec::new();
    let mut all_exp_ids = Vec::new();
    let mut readable_logged = Vec::new();
    for i in 0..9 {
        let name = format!("page-{i}");
        let id = api
            .ok(
                ADMIN,
                Method::POST,
                &format!("{M}/experiments/create"),
                json!({"name": name}),
            )
            .await["experiment_id"]
            .as_str()
            .unwrap()
            .to_owned();
        all_exp_ids.push(id.clone());
        let mut logged = Vec::new();
        for j in 0..2 {
            logged.push(
                api.ok(
                    ADMIN,
                    Method::POST,
                    &format!("{M}/logged-models"),
                    json!({"experiment_id": id, "name": format!("lm-{i}-{j}")}),
                )
                .await["model"]["info"]["model_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let model = format!("pm-{i}");
        api.ok(
            ADMIN,
            Method::POST,
            &format!("{M}/registered-models/create"),
            json!({"name": model}),
        )
        .await;
        for _ in 0..2 {
            api.ok(
                ADMIN,
                Method::POST,
                &format!("{M}/model-versions/create"),
                json!({"name": model, "source": format!("runs:/{run}/model"), "run_id": run}),
            )
            .await;
        }
        let readable = i % 2 == 0;
        if readable {
            readable_exps.push(name.clone());
            readable_models.push(model.clone());
            readable_logged.extend(logged);
        }
        let level = if readable { "READ" } else { "NO_PERMISSIONS" };
        if readable != default_reads {
            api.ok(
                ADMIN,
                Method::POST,
                &format!("{M}/experiments/permissions/create"),
                json!({"experiment_id": id, "username": "pat", "permission": level}),
            )
            .await;
            api.ok(
                ADMIN,
                Method::POST,
                &format!("{M}/registered-models/permissions/create"),
                json!({"name": model, "username": "pat", "permission": level}),
            )
            .await;
        }
    }
    if default_reads {
        readable_exps.push("Default".into());
    }
    let pat = ("pat", PW);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    for max in [1, 2, 3] {
        let exps = all_pages(
            &api,
            pat,
            Method::POST,
            &format!("{M}/experiments/search"),
            "experiments",
            "name",
            max,
        )
        .await;
        assert_eq!(
            sorted(exps.clone()),
            sorted(readable_exps.clone()),
            "max_results={max}: {exps:?}"
        );
        let models = all_pages(
            &api,
            pat,
            Method::GET,
            &format!("{M}/registered-models/search"),
            "registered_models",
            "name",
            max,
        )
        .await;
        assert_eq!(models, readable_models, "max_results={max}");
        let versions = all_pages(
            &api,
            pat,
            Method::GET,
            &format!("{M}/model-versions/search"),
            "model_versions",
            "name",
            max,
        )
        .await;
        let want: Vec<String> = readable_models
            .iter()
            .flat_map(|m| [m.clone(), m.clone()])
            .collect();
        assert_eq!(sorted(versions), sorted(want), "max_results={max}");
        // Logged models of unreadable experiments are left out (as MLflow 3.17), not 403.
        let logged = all_pages_with(
            &api,
            pat,
            &format!("{M}/logged-models/search"),
            json!({"experiment_ids": all_exp_ids}),
            max,
        )
        .await;
        assert_eq!(
            sorted(logged),
            sorted(readable_logged.clone()),
            "max_results={max}"
        );
    }
    // The admin still pages through everything.
    let everything = all_pages(
        &api,
        ADMIN,
        Method::GET,
        &format!("{M}/registered-models/search"),
        "registered_models",
        "name",
        4,
    )
    .await;
    assert_eq!(everything.len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_searches_page_fully_on_sqlite() {
    let server = start(None);
    paging(&server, true).await;
    // The default NO_PERMISSIONS, from MLflow's ini.
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("basic_auth.ini");
    std::fs::write(&ini, "[mlflow]\ndefault_permission = NO_PERMISSIONS\n").unwrap();
    let server = ServerProcess::start(
        &["--app-name", "basic-auth"],
        &[
            ("MLFLOW_AUTH_ADMIN_PASSWORD", ADMIN_PW),
            ("MLFLOW_AUTH_CONFIG_PATH", ini.to_str().unwrap()),
        ],
    );
    paging(&server, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_searches_page_fully_on_postgresql() {
    if !common::postgres_enabled("filtered_searches_page_fully_on_postgresql") {
        return;
    }
    let (uri, db) = common::create_pg_database().await;
    let server = start(Some(&uri));
    paging(&server, true).await;
    drop(server);
    common::drop_pg_database(&db).await;
}

/// `GET /ajax-api/2.0/weir/permissions` as `who`, with `resource_id` repeated.
async fn levels(api: &Api, who: (&str, &str), kind: &str, ids: &[&str]) -> Vec<(String, String)> {
    let mut q = vec![("resource_type", kind)];
    q.extend(ids.iter().map(|id| ("resource_id", *id)));
    let r = api
        .client
        .get(format!("{}/ajax-api/2.0/weir/permissions", api.url))
        .query(&q)
        .basic_auth(who.0, Some(who.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["resource_id"].as_str().unwrap().to_owned(),
                p["permission"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// What the UI asks before drawing actions: who is signed in, and their effective level on a
/// page of resources (explicit grants, else the default; admins MANAGE). With auth off, everyone
/// may do everything and nothing is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_learns_who_is_signed_in_and_what_they_may_do() {
    let server = start(None);
    let api = Api {
        client: Client::new(),
        url: server.url.clone(),
    };
    const M: &str = "/api/2.0/mlflow";
    const ALICE: (&str, &str) = ("alice", PW);
    api.ok(
        ADMIN,
        Method::POST,
        &format!("{M}/users/create"),
        json!({"username": "alice", "password": PW}),
    )
    .await;
    let shared = api
        .ok(
            ADMIN,
            Method::POST,
            &format!("{M}/experiments/create"),
            json!({"name": "shared"}),
        )
        .await["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = api
        .ok(
            ALICE,
            Method::POST,
            &format!("{M}/experiments/create"),
            json!({"name": "own"}),
        )
        .await["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.ok(
        ADMIN,
        Method::POST,
        "/api/3.0/mlflow/users/permissions/grant",
        json!({"username": "alice", "resource_type": "registered_model",
               "resource_id": "m", "permission": "EDIT"}),
    )
    .await;

    let s = api
        .ok(ALICE, Method::GET, "/ajax-api/2.0/weir/session", json!({}))
        .await;
    assert_eq!(s["auth"], true);
    assert_eq!(s["user"]["username"], "alice");
    assert_eq!(s["user"]["is_admin"], false);
    assert_eq!(s["default_permission"], "READ");
    let s = api
        .ok(ADMIN, Method::GET, "/api/2.0/weir/session", json!({}))
        .await;
    assert_eq!(s["user"]["is_admin"], true);
    let (status, _) = api
        .call(None, Method::GET, "/ajax-api/2.0/weir/session", json!({}))
        .await;
    assert_eq!(status, 401);

    let want = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        levels(&api, ALICE, "experiment", &[&own, &shared, "424242"]).await,
        want(&[(&own, "MANAGE"), (&shared, "READ"), ("424242", "READ")])
    );
    assert_eq!(
        levels(&api, ALICE, "registered_model", &["m", "other"]).await,
        want(&[("m", "EDIT"), ("other", "READ")])
    );
    assert_eq!(
        levels(&api, ADMIN, "experiment", &[&own]).await,
        want(&[(&own, "MANAGE")])
    );
    // Bad input: an unknown kind, too many ids.
    let (status, body) = api
        .call(
            Some(ALICE),
            Method::GET,
            "/ajax-api/2.0/weir/permissions",
            json!({"resource_type": "run", "resource_id": "1"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("INVALID_PARAMETER_VALUE"), "{body}");
    let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let mut q = vec![("resource_type".to_owned(), "experiment".to_owned())];
    q.extend(many.into_iter().map(|i| ("resource_id".to_owned(), i)));
    let r = api
        .client
        .get(format!("{}/ajax-api/2.0/weir/permissions", api.url))
        .query(&q)
        .basic_auth(ALICE.0, Some(ALICE.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Authentication off.
    let open = ServerProcess::start(&[], &[]);
    let r: Value = Client::new()
        .get(format!("{}/ajax-api/2.0/weir/session", open.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({"auth": false}));
    let r: Value = Client::new()
        .get(format!(
            "{}/ajax-api/2.0/weir/permissions?resource_type=experiment&resource_id=0",
            open.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({"permissions": [{"resource_id": "0", "permission": "MANAGE"}]})
    );
}

//! The store conformance suite: the same assertions against real SQLite and real PostgreSQL.

mod common;

use common::TestStore;
use weir::tracking::Tracking;
use weir::types::*;

fn metric(key: &str, value: f64, step: i64, ts: i64) -> NewMetric {
    NewMetric {
        key: key.into(),
        value,
        timestamp: ts,
        step,
        model_id: None,
        dataset_name: None,
        dataset_digest: None,
    }
}

fn tracking(t: &TestStore) -> Tracking {
    Tracking::new(t.store.clone(), "mlflow-artifacts:".into())
}

async fn new_run(tr: &Tracking, exp: &str, name: Option<&str>) -> Run {
    tr.create_run(
        Some(exp),
        Some("tester"),
        name,
        Some(1_000),
        vec![KeyValue::new("mlflow.user", "tester")],
    )
    .await
    .expect("create run")
}

/// A search request from test arguments.
fn req<O: AsRef<str>>(
    filter: Option<&str>,
    order: impl IntoIterator<Item = O>,
    max_results: Option<i64>,
    page_token: Option<&str>,
) -> weir::types::SearchRequest {
    weir::types::SearchRequest {
        filter: filter.map(str::to_owned),
        order_by: order.into_iter().map(|o| o.as_ref().to_owned()).collect(),
        max_results,
        page_token: page_token.map(str::to_owned),
        ..Default::default()
    }
}

#[tokio::test]
async fn experiments_lifecycle() {
    for (backend, t) in TestStore::all().await {
        let tr = tracking(&t);
        tr.ensure_default_experiment().await.unwrap();
        tr.ensure_default_experiment().await.unwrap(); // idempotent
        let d = tr.get_experiment("0").await.unwrap();
        assert_eq!(d.name, "Default", "{backend}");
        assert_eq!(d.artifact_location, "mlflow-artifacts:/0");

        let id = tr
            .create_experiment("exp-a", None, &[KeyValue::new("x", "y")])
            .await
            .unwrap();
        assert_ne!(id, "0", "{backend}");
        let e = tr.get_experiment(&id).await.unwrap();
        assert_eq!(e.artifact_location, format!("mlflow-artifacts:/{id}"));
        assert_eq!(e.tags, vec![KeyValue::new("x", "y")]);
        let dup = tr.create_experiment("exp-a", None, &[]).await.unwrap_err();
        assert_eq!(
            dup.code,
            weir::error::ErrorCode::ResourceAlreadyExists,
            "{backend}"
        );

        let given = tr
            .create_experiment("exp-b", Some("s3://bucket/x"), &[])
            .await
            .unwrap();
        assert_eq!(
            tr.get_experiment(&given).await.unwrap().artifact_location,
            "s3://bucket/x"
        );

        tr.rename_experiment(&id, "exp-renamed").await.unwrap();
        assert_eq!(
            tr.get_experiment_by_name("exp-renamed")
                .await
                .unwrap()
                .experiment_id,
            id
        );
        assert!(tr
            .get_experiment_by_name("exp-a")
            .await
            .unwrap_err()
            .is_not_found());
        assert_eq!(
            tr.rename_experiment(&id, "exp-b").await.unwrap_err().code,
            weir::error::ErrorCode::ResourceAlreadyExists
        );

        tr.set_experiment_tag(&id, KeyValue::new("k2", "v2"))
            .await
            .unwrap();
        tr.set_experiment_tag(&id, KeyValue::new("k2", "v3"))
            .await
            .unwrap();
        let e = tr.get_experiment(&id).await.unwrap();
        assert!(e.tags.contains(&KeyValue::new("k2", "v3")));
        tr.delete_experiment_tag(&id, "k2").await.unwrap();
        assert!(tr
            .delete_experiment_tag(&id, "k2")
            .await
            .unwrap_err()
            .is_not_found());

        // Deleting an experiment deletes its runs; restoring restores them.
        let run = new_run(&tr, &id, Some("r")).await;
        tr.delete_experiment(&id).await.unwrap();
        assert_eq!(
            tr.get_experiment(&id).await.unwrap().lifecycle_stage,
            "deleted"
        );
        assert_eq!(
            tr.get_run(&run.info.run_id)
                .await
                .unwrap()
                .info
                .lifecycle_stage,
            "deleted"
        );
        assert!(tr
            .create_run(Some(&id), None, None, None, vec![])
            .await
            .is_err());
        tr.restore_experiment(&id).await.unwrap();
        assert_eq!(
            tr.get_run(&run.info.run_id)
                .await
                .unwrap()
                .info
                .lifecycle_stage,
            "active"
        );

        // Search: filter, order, pagination, view type.
        for i in 0..5 {
            tr.create_experiment(
                &format!("wf-{i}"),
                None,
                &[KeyValue::new("team", if i % 2 == 0 { "a" } else { "b" })],
            )
            .await
            .unwrap();
        }
        let p = tr
            .search_experiments(
                ViewType::ActiveOnly,
                &req(Some("name LIKE 'wf-%'"), ["name ASC"], Some(2), None),
            )
            .await
            .unwrap();
        assert_eq!(
            p.items.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["wf-0", "wf-1"],
            "{backend}"
        );
        let token = p.next_page_token.clone().expect("more pages");
        let p2 = tr
            .search_experiments(
                ViewType::ActiveOnly,
                &req(
                    Some("name LIKE 'wf-%'"),
                    ["name ASC"],
                    Some(2),
                    Some(&token),
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            p2.items.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["wf-2", "wf-3"]
        );
        let p = tr
            .search_experiments(
                ViewType::ActiveOnly,
                &req(
                    Some("tags.team = 'a' AND name ILIKE 'WF-%'"),
                    [""; 0],
                    None,
                    None,
                ),
            )
            .await
            .unwrap();
        assert_eq!(p.items.len(), 3, "{backend}");
        // LIKE is case-sensitive, as in MLflow.
        let p = tr
            .search_experiments(
                ViewType::ActiveOnly,
                &req(Some("name LIKE 'WF-%'"), [""; 0], None, None),
            )
            .await
            .unwrap();
        assert!(p.items.is_empty(), "{backend}: LIKE must be case-sensitive");
        // Default order: newest first.
        let all = tr
            .search_experiments(ViewType::All, &req(None, [""; 0], None, None))
            .await
            .unwrap();
        assert_eq!(all.items.last().unwrap().experiment_id, "0");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn runs_and_logging() {
    for (backend, t) in TestStore::all().await {
        let tr = tracking(&t);
        tr.ensure_default_experiment().await.unwrap();
        let exp = tr.create_experiment("runs", None, &[]).await.unwrap();
        let run = new_run(&tr, &exp, None).await;
        let id = run.info.run_id.clone();
        assert_eq!(
            run.info.artifact_uri,
            format!("mlflow-artifacts:/{exp}/{id}/artifacts")
        );
        assert_eq!(
            run.info.run_name.split('-').count(),
            3,
            "generated name: {}",
            run.info.run_name
        );
        assert!(run
            .data
            .tags
            .contains(&KeyValue::new("mlflow.runName", run.info.run_name.clone())));

        tr.log_batch(&id, vec![], vec![KeyValue::new("alpha", "0.5")], vec![])
            .await
            .unwrap();
        // Same value again is fine; a different value is refused and changes nothing.
        tr.log_batch(&id, vec![], vec![KeyValue::new("alpha", "0.5")], vec![])
            .await
            .unwrap();
        let err = tr
            .log_batch(
                &id,
                vec![metric("should_not_land", 1.0, 0, 1)],
                vec![KeyValue::new("alpha", "0.7")],
                vec![],
            )
            .await
            .unwrap_err();
        assert!(
            err.message.contains("Changing param values is not allowed"),
            "{backend}: {}",
            err.message
        );

        tr.log_batch(
            &id,
            vec![
                metric("loss", 0.9, 0, 10),
                metric("loss", 0.5, 1, 20),
                metric("loss", 0.7, 1, 15),
                metric("acc", f64::NAN, 0, 5),
            ],
            vec![],
            vec![KeyValue::new("team", "ml"), KeyValue::new("team", "ml2")],
        )
        .await
        .unwrap();
        // Logging an older point later does not move the latest value.
        tr.log_batch(&id, vec![metric("loss", 0.1, 0, 99)], vec![], vec![])
            .await
            .unwrap();
        let r = tr.get_run(&id).await.unwrap();
        let loss = r.data.metrics.iter().find(|m| m.key == "loss").unwrap();
        assert_eq!(
            (loss.value.0, loss.step, loss.timestamp),
            (0.5, 1, 20),
            "{backend}"
        );
        assert!(r
            .data
            .metrics
            .iter()
            .find(|m| m.key == "acc")
            .unwrap()
            .value
            .0
            .is_nan());
        assert!(!r.data.metrics.iter().any(|m| m.key == "should_not_land"));
        assert_eq!(r.data.params, vec![KeyValue::new("alpha", "0.5")]);
        assert!(r.data.tags.contains(&KeyValue::new("team", "ml2")));

        let h = tr.metric_history(&id, "loss", None, None).await.unwrap();
        assert_eq!(
            h.items
                .iter()
                .map(|m| (m.step, m.timestamp))
                .collect::<Vec<_>>(),
            [(0, 10), (0, 99), (1, 15), (1, 20)]
        );
        // Duplicate points are ignored.
        tr.log_batch(&id, vec![metric("loss", 0.9, 0, 10)], vec![], vec![])
            .await
            .unwrap();
        assert_eq!(
            tr.metric_history(&id, "loss", None, None)
                .await
                .unwrap()
                .items
                .len(),
            4
        );

        // Setting the run-name tag renames the run.
        tr.log_batch(
            &id,
            vec![],
            vec![],
            vec![KeyValue::new("mlflow.runName", "renamed")],
        )
        .await
        .unwrap();
        assert_eq!(tr.get_run(&id).await.unwrap().info.run_name, "renamed");
        let info = tr
            .update_run(
                &id,
                weir::store::RunUpdate {
                    status: Some("FINISHED".into()),
                    end_time: Some(2_000),
                    run_name: Some("final".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (info.status.as_str(), info.end_time, info.run_name.as_str()),
            ("FINISHED", Some(2_000), "final")
        );
        assert!(tr
            .get_run(&id)
            .await
            .unwrap()
            .data
            .tags
            .contains(&KeyValue::new("mlflow.runName", "final")));

        tr.delete_tag(&id, "team").await.unwrap();
        assert!(tr.delete_tag(&id, "team").await.unwrap_err().is_not_found());

        tr.delete_run(&id).await.unwrap();
        let err = tr
            .log_batch(&id, vec![metric("m", 1.0, 0, 1)], vec![], vec![])
            .await
            .unwrap_err();
        assert!(
            err.message.contains("must be in the 'active' state"),
            "{backend}"
        );
        tr.restore_run(&id).await.unwrap();

        assert!(tr
            .get_run("0123456789abcdef0123456789abcdef")
            .await
            .unwrap_err()
            .is_not_found());
        assert!(tr
            .log_batch(
                "0123456789abcdef0123456789abcdef",
                vec![metric("m", 1.0, 0, 1)],
                vec![],
                vec![]
            )
            .await
            .unwrap_err()
            .is_not_found());

        // Inputs and outputs.
        tr.log_inputs(
            &id,
            vec![DatasetInput {
                tags: vec![KeyValue::new("mlflow.data.context", "train")],
                dataset: Dataset {
                    name: "iris".into(),
                    digest: "abc123".into(),
                    source_type: "code".into(),
                    source: "{}".into(),
                    schema: Some("{}".into()),
                    profile: None,
                },
            }],
            vec![ModelInput {
                model_id: "m-1".into(),
            }],
        )
        .await
        .unwrap();
        tr.log_outputs(
            &id,
            vec![ModelOutput {
                model_id: "m-2".into(),
                step: 3,
            }],
        )
        .await
        .unwrap();
        let r = tr.get_run(&id).await.unwrap();
        assert_eq!(r.inputs.dataset_inputs.len(), 1, "{backend}");
        assert_eq!(
            r.inputs.dataset_inputs[0].tags,
            vec![KeyValue::new("mlflow.data.context", "train")]
        );
        assert_eq!(
            r.inputs.model_inputs,
            vec![ModelInput {
                model_id: "m-1".into()
            }]
        );
        assert_eq!(
            r.outputs.unwrap().model_outputs,
            vec![ModelOutput {
                model_id: "m-2".into(),
                step: 3
            }]
        );

        // 2.x log-model keeps a history tag.
        tr.log_model(&id, r#"{"artifact_path": "model", "flavors": {}}"#)
            .await
            .unwrap();
        tr.log_model(&id, r#"{"artifact_path": "model2", "flavors": {}}"#)
            .await
            .unwrap();
        let r = tr.get_run(&id).await.unwrap();
        let hist = r
            .data
            .tags
            .iter()
            .find(|t| t.key == "mlflow.log-model.history")
            .unwrap();
        let v: Vec<serde_json::Value> = serde_json::from_str(&hist.value).unwrap();
        assert_eq!(v.len(), 2);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn search_runs() {
    for (backend, t) in TestStore::all().await {
        let tr = tracking(&t);
        tr.ensure_default_experiment().await.unwrap();
        let exp = tr.create_experiment("search", None, &[]).await.unwrap();
        let accs = [0.95, 0.85, 0.97, 0.92, 0.99];
        let mut ids = Vec::new();
        for (i, acc) in accs.iter().enumerate() {
            let r = tr
                .create_run(
                    Some(&exp),
                    Some("u"),
                    Some(&format!("r{i}")),
                    Some(1_000 + i as i64),
                    vec![],
                )
                .await
                .unwrap();
            let depth = if i == 2 { "5" } else { "10" };
            tr.log_batch(
                &r.info.run_id,
                vec![metric("accuracy", *acc, 2, 1)],
                vec![KeyValue::new("max_depth", depth)],
                vec![KeyValue::new(
                    "team",
                    if i % 2 == 0 { "Alpha" } else { "beta" },
                )],
            )
            .await
            .unwrap();
            ids.push(r.info.run_id);
        }
        // A run with no metric at all sorts last whatever the direction.
        let bare = tr
            .create_run(Some(&exp), Some("u"), Some("bare"), Some(999), vec![])
            .await
            .unwrap();

        let names = |p: &Page<Run>| {
            p.items
                .iter()
                .map(|r| r.info.run_name.clone())
                .collect::<Vec<_>>()
        };
        let search = |filter: &'static str, order: Vec<&'static str>| {
            let tr = tr.clone();
            let exp = exp.clone();
            async move {
                tr.search_runs(
                    &[exp],
                    ViewType::ActiveOnly,
                    &req(Some(filter), order, None, None),
                )
                .await
            }
        };

        let p = search(
            "metrics.accuracy > 0.9 and params.max_depth = '10'",
            vec!["metrics.accuracy DESC"],
        )
        .await
        .unwrap();
        assert_eq!(names(&p), ["r4", "r0", "r3"], "{backend}");
        let p = search("", vec!["metrics.accuracy ASC"]).await.unwrap();
        assert_eq!(
            names(&p),
            ["r1", "r3", "r0", "r2", "r4", "bare"],
            "{backend}"
        );
        let p = search("", vec!["metrics.accuracy DESC"]).await.unwrap();
        assert_eq!(
            names(&p).last().unwrap(),
            "bare",
            "{backend}: NULLs last in DESC too"
        );
        // Default order: newest start_time first.
        let p = search("", vec![]).await.unwrap();
        assert_eq!(names(&p), ["r4", "r3", "r2", "r1", "r0", "bare"]);
        let p = search("tags.team LIKE 'Al%'", vec!["attributes.start_time ASC"])
            .await
            .unwrap();
        assert_eq!(names(&p), ["r0", "r2", "r4"], "{backend}");
        let p = search("tags.team ILIKE 'al%'", vec![]).await.unwrap();
        assert_eq!(p.items.len(), 3);
        let p = search("tags.team LIKE 'al%'", vec![]).await.unwrap();
        assert!(p.items.is_empty(), "{backend}: LIKE is case-sensitive");
        let p = search("params.max_depth IN ('5')", vec![]).await.unwrap();
        assert_eq!(names(&p), ["r2"]);
        let p = search("params.max_depth NOT IN ('10')", vec![])
            .await
            .unwrap();
        assert_eq!(names(&p), ["r2"]);
        let p = search("metrics.accuracy IS NULL", vec![]).await.unwrap();
        assert_eq!(names(&p), ["bare"], "{backend}");
        let p = search("attributes.run_name = 'r1'", vec![]).await.unwrap();
        assert_eq!(names(&p), ["r1"]);
        let p = search(
            &*Box::leak(
                format!(
                    "attributes.run_id IN ('{}', '{}')",
                    ids[0], bare.info.run_id
                )
                .into_boxed_str(),
            ),
            vec![],
        )
        .await
        .unwrap();
        assert_eq!(p.items.len(), 2);
        let p = search(
            "attributes.start_time >= 1003",
            vec!["attributes.start_time ASC"],
        )
        .await
        .unwrap();
        assert_eq!(names(&p), ["r3", "r4"]);
        // Beyond MLflow: OR with parentheses.
        let p = search(
            "(metrics.accuracy < 0.9 OR metrics.accuracy > 0.98) AND tags.team != 'x'",
            vec!["metrics.accuracy ASC"],
        )
        .await
        .unwrap();
        assert_eq!(names(&p), ["r1", "r4"], "{backend}");
        // Injection attempts are values, not SQL.
        let p = search("params.max_depth = '10'' OR ''1''=''1'", vec![])
            .await
            .unwrap();
        assert!(p.items.is_empty());
        assert!(search("metrics.accuracy >>> 1", vec![]).await.is_err());
        assert!(search("params.x > '1'", vec![]).await.is_err());

        // Pagination walks every run exactly once.
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let p = tr
                .search_runs(
                    std::slice::from_ref(&exp),
                    ViewType::ActiveOnly,
                    &req(None, ["metrics.accuracy DESC"], Some(2), token.as_deref()),
                )
                .await
                .unwrap();
            seen.extend(names(&p));
            match p.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, ["r4", "r2", "r0", "r3", "r1", "bare"], "{backend}");

        // Deleted runs only in the right views.
        tr.delete_run(&ids[1]).await.unwrap();
        let p = tr
            .search_runs(
                std::slice::from_ref(&exp),
                ViewType::DeletedOnly,
                &req(None, [""; 0], None, None),
            )
            .await
            .unwrap();
        assert_eq!(names(&p), ["r1"]);
        let p = tr
            .search_runs(
                std::slice::from_ref(&exp),
                ViewType::All,
                &req(None, [""; 0], None, None),
            )
            .await
            .unwrap();
        assert_eq!(p.items.len(), 6);
        assert!(tr
            .search_runs(
                std::slice::from_ref(&exp),
                ViewType::All,
                &req(None, [""; 0], Some(100_000), None)
            )
            .await
            .is_err());

        // Bulk interval sampling keeps first and last steps.
        let r = &ids[0];
        let many: Vec<NewMetric> = (0..1000).map(|s| metric("curve", s as f64, s, s)).collect();
        tr.log_batch(r, many, vec![], vec![]).await.unwrap();
        let m = t
            .store_ref()
            .metric_history_bulk_interval(std::slice::from_ref(r), "curve", None, None, 10)
            .await
            .unwrap();
        assert_eq!(m.len(), 10);
        assert_eq!((m[0].step, m[9].step), (0, 999));
        let s = t
            .store_ref()
            .metric_downsample(std::slice::from_ref(r), "curve", 100)
            .await
            .unwrap();
        assert!(s[0].downsampled && s[0].points.len() <= 100 && s[0].total_points == 1000);
        t.cleanup().await;
    }
}

trait StoreRef {
    fn store_ref(&self) -> &dyn weir::store::TrackingStore;
}

impl StoreRef for TestStore {
    fn store_ref(&self) -> &dyn weir::store::TrackingStore {
        &*self.store
    }
}

#[tokio::test]
async fn concurrent_migrations_on_postgres() {
    if !common::postgres_enabled("concurrent_migrations_on_postgres") {
        return;
    }
    // Two "replicas" opening one fresh database at once: both succeed, migrations apply once.
    let (uri, db) = common::create_pg_database().await;
    let (a, b) = tokio::join!(
        weir::store::SqlStore::open(&uri),
        weir::store::SqlStore::open(&uri)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let tr = Tracking::new(std::sync::Arc::new(a.clone()), "mlflow-artifacts:".into());
    tr.ensure_default_experiment().await.unwrap();
    assert_eq!(tr.get_experiment("0").await.unwrap().name, "Default");
    a.close().await;
    b.close().await;
    common::drop_pg_database(&db).await;
}

/// MLflow's run order, computed here independently of SQL: each term puts numbers (by value),
/// then NaN, then missing values; ties broken by newest start, then run id.
#[derive(Clone)]
struct Oracle {
    name: String,
    id: String,
    start: i64,
    accuracy: Option<f64>,
    depth: Option<String>,
    team: Option<String>,
}

/// Which runs a filter keeps, as the oracle decides it.
type Keep = fn(&Oracle) -> bool;

fn oracle_order(runs: &[Oracle], order: &[&str]) -> Vec<String> {
    use std::cmp::Ordering;
    fn num(a: Option<f64>, b: Option<f64>, asc: bool) -> Ordering {
        let rank = |v: Option<f64>| match v {
            None => 2,
            Some(x) if x.is_nan() => 1,
            Some(_) => 0,
        };
        match rank(a).cmp(&rank(b)) {
            Ordering::Equal if rank(a) == 0 => {
                let o = a.unwrap().partial_cmp(&b.unwrap()).unwrap();
                if asc {
                    o
                } else {
                    o.reverse()
                }
            }
            o => o,
        }
    }
    fn text(a: &Option<String>, b: &Option<String>, asc: bool) -> Ordering {
        match (a, b) {
            (Some(x), Some(y)) => {
                let o = x.as_bytes().cmp(y.as_bytes());
                if asc {
                    o
                } else {
                    o.reverse()
                }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let mut v = runs.to_vec();
    v.sort_by(|a, b| {
        for term in order {
            let (field, dir) = term.split_once(' ').unwrap();
            let asc = dir == "ASC";
            let o = match field {
                "metrics.accuracy" => num(a.accuracy, b.accuracy, asc),
                "params.depth" => text(&a.depth, &b.depth, asc),
                "tags.team" => text(&a.team, &b.team, asc),
                "attributes.start_time" => {
                    let o = a.start.cmp(&b.start);
                    if asc {
                        o
                    } else {
                        o.reverse()
                    }
                }
                other => panic!("oracle: {other}"),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        let by_start = if order.iter().any(|t| t.starts_with("attributes.start_time")) {
            Ordering::Equal
        } else {
            b.start.cmp(&a.start)
        };
        by_start.then_with(|| a.id.cmp(&b.id))
    });
    v.into_iter().map(|r| r.name).collect()
}

/// Searches ordered by metrics, params and tags (read segment by segment) and every page
/// (keyset or position tokens, and MLflow's bare offset tokens) give exactly MLflow's order,
/// ties, NaN, infinities and missing values included.
#[tokio::test]
async fn search_order_and_pages_match_mlflows_rules() {
    for (backend, t) in TestStore::all().await {
        let tr = tracking(&t);
        tr.ensure_default_experiment().await.unwrap();
        let exp = tr.create_experiment("oracle", None, &[]).await.unwrap();
        let values = [
            Some(0.5),
            Some(0.25),
            Some(f64::NAN),
            None,
            Some(0.75),
            Some(f64::INFINITY),
            Some(0.5),
            Some(f64::NEG_INFINITY),
            Some(-1.0),
            None,
            Some(0.0),
        ];
        let mut runs = Vec::new();
        for i in 0..120usize {
            let start = 10_000 + (i as i64 / 3); // three runs share each start time
            let name = format!("o{i:03}");
            let r = tr
                .create_run(Some(&exp), Some("u"), Some(&name), Some(start), vec![])
                .await
                .unwrap();
            let accuracy = values[(i * 7) % values.len()];
            let depth = (i % 5 != 0).then(|| ((i * 3) % 11).to_string());
            let team = (i % 4 != 1).then(|| ["a", "b", "ab"][i % 3].to_owned());
            tr.log_batch(
                &r.info.run_id,
                accuracy
                    .map(|v| vec![metric("accuracy", v, 0, 1)])
                    .unwrap_or_default(),
                depth.iter().map(|d| KeyValue::new("depth", d)).collect(),
                team.iter().map(|x| KeyValue::new("team", x)).collect(),
            )
            .await
            .unwrap();
            runs.push(Oracle {
                name,
                id: r.info.run_id,
                start,
                accuracy,
                depth,
                team,
            });
        }
        // Runs with depth 3 that no search of `exp` may return: a deleted one, one elsewhere.
        let gone = tr
            .create_run(Some(&exp), Some("u"), Some("gone"), Some(10_020), vec![])
            .await
            .unwrap();
        let other = tr.create_experiment("elsewhere", None, &[]).await.unwrap();
        let elsewhere = tr
            .create_run(
                Some(&other),
                Some("u"),
                Some("elsewhere"),
                Some(10_020),
                vec![],
            )
            .await
            .unwrap();
        for id in [&gone.info.run_id, &elsewhere.info.run_id] {
            tr.log_batch(id, vec![], vec![KeyValue::new("depth", "3")], vec![])
                .await
                .unwrap();
        }
        tr.delete_run(&gone.info.run_id).await.unwrap();
        // A param written straight into the table, without the run's experiment and start time
        // next to it (an older Weir, a script): the database fills them in.
        insert_param_raw(&t.uri, &runs[0].id, "depth", "3").await;
        runs[0].depth = Some("3".into());
        let orders: [&[&str]; 9] = [
            &[],
            &["metrics.accuracy DESC"],
            &["metrics.accuracy ASC"],
            &["params.depth ASC"],
            &["params.depth DESC"],
            &["tags.team DESC"],
            &["metrics.accuracy DESC", "params.depth ASC"],
            &["params.depth DESC", "tags.team ASC"],
            &["attributes.start_time ASC"],
        ];
        let filters: [(&str, Keep); 9] = [
            ("", |_| true),
            ("metrics.accuracy > 0.2", |r| {
                r.accuracy.is_some_and(|v| !v.is_nan() && v > 0.2)
            }),
            ("params.depth != '3'", |r| {
                r.depth.as_deref().is_some_and(|d| d != "3")
            }),
            // Tested param first, metric second (the same rows).
            ("metrics.accuracy >= 0 and params.depth = '3'", |r| {
                r.accuracy.is_some_and(|v| v >= 0.0) && r.depth.as_deref() == Some("3")
            }),
            // Walked from the param's rows in the default order.
            ("params.depth = '3'", |r| r.depth.as_deref() == Some("3")),
            ("params.depth = '3' and tags.team = 'a'", |r| {
                r.depth.as_deref() == Some("3") && r.team.as_deref() == Some("a")
            }),
            (
                "params.depth = '3' and attributes.start_time < 10030",
                |r| r.depth.as_deref() == Some("3") && r.start < 10_030,
            ),
            // Few matches: SQLite starts from the tags index (`IN (SELECT ...)`).
            ("tags.team = 'ab'", |r| r.team.as_deref() == Some("ab")),
            ("tags.team LIKE 'a%' AND metrics.accuracy >= 0", |r| {
                r.team.as_deref().is_some_and(|t| t.starts_with('a'))
                    && r.accuracy.is_some_and(|v| v >= 0.0)
            }),
        ];
        let names = |p: &Page<Run>| {
            p.items
                .iter()
                .map(|r| r.info.run_name.clone())
                .collect::<Vec<_>>()
        };
        for order in orders {
            for (filter, keep) in &filters {
                let kept: Vec<Oracle> = runs.iter().filter(|r| keep(r)).cloned().collect();
                let want = oracle_order(&kept, order);
                let whole = tr
                    .search_runs(
                        std::slice::from_ref(&exp),
                        ViewType::ActiveOnly,
                        &req(Some(filter), order.iter(), Some(1000), None),
                    )
                    .await
                    .unwrap();
                assert_eq!(names(&whole), want, "{backend}: {filter:?} {order:?}");
                for size in [1, 7, 50] {
                    let mut seen = Vec::new();
                    let mut token: Option<String> = None;
                    loop {
                        let p = tr
                            .search_runs(
                                std::slice::from_ref(&exp),
                                ViewType::ActiveOnly,
                                &req(Some(filter), order.iter(), Some(size), token.as_deref()),
                            )
                            .await
                            .unwrap();
                        assert!(p.items.len() as i64 <= size);
                        seen.extend(names(&p));
                        match p.next_page_token {
                            Some(t) => token = Some(t),
                            None => break,
                        }
                        assert!(seen.len() <= want.len(), "{backend}: runaway paging");
                    }
                    assert_eq!(seen, want, "{backend}: {filter:?} {order:?} by {size}");
                }
                // MLflow's own token shape, {"offset": N}, lands on the same rows.
                for offset in [0usize, 1, 13, 40, 95, want.len()] {
                    let token = weir::search::encode_page_token(offset as u64);
                    let p = tr
                        .search_runs(
                            std::slice::from_ref(&exp),
                            ViewType::ActiveOnly,
                            &req(Some(filter), order.iter(), Some(10), Some(&token)),
                        )
                        .await
                        .unwrap();
                    let end = (offset + 10).min(want.len());
                    assert_eq!(
                        names(&p),
                        want[offset.min(want.len())..end],
                        "{backend}: {filter:?} {order:?} from offset {offset}"
                    );
                }
            }
        }
        // A token that names no part of this search is refused in MLflow's shape.
        use base64::Engine;
        for bad in [
            r#"{"offset": 5, "segment": 7, "segment_offset": 0}"#,
            r#"{"offset": 5, "segment": 0, "after": [1, "x"]}"#,
        ] {
            let token = base64::engine::general_purpose::STANDARD.encode(bad);
            let e = tr
                .search_runs(
                    std::slice::from_ref(&exp),
                    ViewType::ActiveOnly,
                    &req(None, ["metrics.accuracy DESC"], Some(5), Some(&token)),
                )
                .await
                .unwrap_err();
            assert_eq!(
                e.code,
                weir::error::ErrorCode::InvalidParameterValue,
                "{bad}"
            );
        }
        t.cleanup().await;
    }
}

/// Insert a param row with SQL of its own, naming only the columns MLflow's schema has.
async fn insert_param_raw(uri: &str, run: &str, key: &str, value: &str) {
    use sqlx::Connection;
    let sql = "INSERT INTO params (run_uuid, key, value) VALUES ($1, $2, $3)";
    if let Some(path) = uri.strip_prefix("sqlite://") {
        let mut c = sqlx::SqliteConnection::connect_with(
            &sqlx::sqlite::SqliteConnectOptions::new().filename(path),
        )
        .await
        .unwrap();
        sqlx::query(sql)
            .bind(run)
            .bind(key)
            .bind(value)
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(uri).await.unwrap();
        sqlx::query(sql)
            .bind(run)
            .bind(key)
            .bind(value)
            .execute(&mut c)
            .await
            .unwrap();
    }
}

/// Runs are read back (get and search) with every metric value bit for bit, and params and tags
/// with every character: hydration aggregates a page's rows into JSON text in the database and
/// parses it back, so doubles go through their exact text and strings through JSON escaping.
#[tokio::test]
async fn hydrated_runs_keep_values_exactly() {
    let values = [
        0.1,
        1.0 / 3.0,
        5e-324,
        2.2250738585072014e-308,
        f64::MAX,
        f64::MIN,
        123_456_789.123_456_79,
        1e20,
        -1.5e-7,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let text = "quote \" backslash \\ tab \t newline \n unicode ✓ 日本 emoji 🦀 <b>&amp;</b> '";
    for (backend, t) in TestStore::all().await {
        let tr = tracking(&t);
        tr.ensure_default_experiment().await.unwrap();
        let exp = tr.create_experiment("exact", None, &[]).await.unwrap();
        let id = new_run(&tr, &exp, Some("exact")).await.info.run_id;
        let metrics: Vec<NewMetric> = values
            .iter()
            .enumerate()
            .map(|(i, v)| metric(&format!("m{i:02}"), *v, i as i64, 1_000 + i as i64))
            .chain([metric("nan", f64::NAN, 3, 7)])
            .collect();
        tr.log_batch(
            &id,
            metrics,
            vec![
                KeyValue::new("p", text),
                KeyValue::new("json", "{\"a\": [1, null]}"),
            ],
            vec![KeyValue::new("t", text)],
        )
        .await
        .unwrap();
        let got = tr.get_run(&id).await.unwrap();
        let page = tr
            .search_runs(
                std::slice::from_ref(&exp),
                ViewType::ActiveOnly,
                &req(None, [""; 0], None, None),
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1, "{backend}");
        for run in [&got, &page.items[0]] {
            for (i, v) in values.iter().enumerate() {
                let m = run
                    .data
                    .metrics
                    .iter()
                    .find(|m| m.key == format!("m{i:02}"))
                    .unwrap();
                assert_eq!(m.value.0.to_bits(), v.to_bits(), "{backend}: {v:e}");
                assert_eq!((m.step, m.timestamp), (i as i64, 1_000 + i as i64));
            }
            let nan = run.data.metrics.iter().find(|m| m.key == "nan").unwrap();
            assert!(nan.value.0.is_nan(), "{backend}");
            let keys: Vec<&str> = run.data.metrics.iter().map(|m| m.key.as_str()).collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            assert_eq!(keys, sorted, "{backend}: metrics in key order");
            assert_eq!(
                run.data.params,
                vec![
                    KeyValue::new("json", "{\"a\": [1, null]}"),
                    KeyValue::new("p", text)
                ],
                "{backend}"
            );
            assert!(
                run.data.tags.contains(&KeyValue::new("t", text)),
                "{backend}"
            );
        }
    }
}

"""Tracking: experiments, runs, params/metrics/tags, search — through the real mlflow client."""

from __future__ import annotations

import math
import re

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException

from _helpers import MLFLOW_MAJOR, SKLEARN_LOG_KWARGS, iris_rows, iris_split, now_ms


def _all_pages(fetch, **kw):
    """Follow next_page_token until the end; return (items, number_of_pages)."""
    items, pages, token = [], 0, None
    while True:
        page = fetch(page_token=token, **kw)
        pages += 1
        items.extend(page)
        token = page.token
        if not token:
            return items, pages
        assert pages < 100, "pagination does not terminate"


# --------------------------------------------------------------------------- experiments


def test_set_experiment_creates_then_reuses(uniq):
    name = uniq("exp-set")
    assert mlflow.get_experiment_by_name(name) is None
    exp = mlflow.set_experiment(name)
    assert isinstance(exp.experiment_id, str) and exp.experiment_id.isdigit()
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == f"mlflow-artifacts:/{exp.experiment_id}"
    again = mlflow.set_experiment(name)
    assert again.experiment_id == exp.experiment_id
    by_name = mlflow.get_experiment_by_name(name)
    assert by_name.experiment_id == exp.experiment_id
    by_id = mlflow.get_experiment(exp.experiment_id)
    assert by_id.name == name
    # set_experiment by id works too
    assert mlflow.set_experiment(experiment_id=exp.experiment_id).name == name


def test_create_experiment_with_tags_and_duplicate(client, uniq):
    name = uniq("exp-create")
    before = now_ms()
    exp_id = client.create_experiment(name, tags={"team": "ml", "priority": "high"})
    exp = client.get_experiment(exp_id)
    assert exp.name == name
    assert exp.tags == {"team": "ml", "priority": "high"}
    assert before - 60_000 <= exp.creation_time <= now_ms() + 60_000
    assert exp.last_update_time >= exp.creation_time
    with pytest.raises(MlflowException) as ei:
        client.create_experiment(name)
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_get_missing_experiment(client):
    with pytest.raises(MlflowException) as ei:
        client.get_experiment("987654321")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.get_experiment_by_name("no-such-experiment-xyz-123") is None


def test_search_experiments_filter_order_pagination(client, uniq):
    prefix = uniq("exps")
    ids = {}
    for i in range(5):
        name = f"{prefix}-{i}"
        ids[name] = client.create_experiment(name, tags={"parity": "even" if i % 2 == 0 else "odd"})

    flt = f"name LIKE '{prefix}-%'"
    asc, pages = _all_pages(client.search_experiments, filter_string=flt, order_by=["name ASC"], max_results=2)
    assert [e.name for e in asc] == sorted(ids)
    assert pages == 3
    desc = client.search_experiments(filter_string=flt, order_by=["name DESC"])
    assert [e.name for e in desc] == sorted(ids, reverse=True)
    # tags filter
    even = client.search_experiments(filter_string=f"{flt} AND tags.parity = 'even'")
    assert sorted(e.name for e in even) == [f"{prefix}-0", f"{prefix}-2", f"{prefix}-4"]
    # attribute equality, ILIKE
    one = client.search_experiments(filter_string=f"attribute.name = '{prefix}-3'")
    assert [e.experiment_id for e in one] == [ids[f"{prefix}-3"]]
    upper = client.search_experiments(filter_string=f"name ILIKE '{prefix.upper()}-%'")
    assert len(upper) == 5
    # fluent API returns a plain list
    fluent = mlflow.search_experiments(filter_string=flt, order_by=["name ASC"])
    assert [e.name for e in fluent] == sorted(ids)
    # ordering by creation time: newest first
    by_time = client.search_experiments(filter_string=flt, order_by=["creation_time DESC"])
    assert {e.name for e in by_time} == set(ids)
    times = [e.creation_time for e in by_time]
    assert times == sorted(times, reverse=True)


def test_search_experiments_view_type(client, uniq):
    prefix = uniq("expv")
    keep = client.create_experiment(f"{prefix}-keep")
    gone = client.create_experiment(f"{prefix}-gone")
    client.delete_experiment(gone)
    flt = f"name LIKE '{prefix}-%'"
    active = client.search_experiments(filter_string=flt, view_type=ViewType.ACTIVE_ONLY)
    deleted = client.search_experiments(filter_string=flt, view_type=ViewType.DELETED_ONLY)
    both = client.search_experiments(filter_string=flt, view_type=ViewType.ALL)
    assert [e.experiment_id for e in active] == [keep]
    assert [e.experiment_id for e in deleted] == [gone]
    assert sorted(e.experiment_id for e in both) == sorted([keep, gone])


def test_rename_delete_restore_experiment(client, uniq):
    name = uniq("exp-life")
    exp_id = client.create_experiment(name, tags={"x": "y"})
    new_name = name + "-renamed"
    client.rename_experiment(exp_id, new_name)
    assert client.get_experiment(exp_id).name == new_name
    assert client.get_experiment_by_name(name) is None
    assert client.get_experiment_by_name(new_name).experiment_id == exp_id

    client.set_experiment_tag(exp_id, "k2", "v2")
    assert client.get_experiment(exp_id).tags == {"x": "y", "k2": "v2"}

    client.delete_experiment(exp_id)
    exp = client.get_experiment(exp_id)
    assert exp.lifecycle_stage == "deleted"
    assert exp.tags == {"x": "y", "k2": "v2"}
    # a deleted experiment cannot be made active
    with pytest.raises(MlflowException):
        mlflow.set_experiment(new_name)
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert mlflow.set_experiment(new_name).experiment_id == exp_id


def test_experiment_tags_fluent(uniq):
    exp = mlflow.set_experiment(uniq("exp-tags"))
    mlflow.set_experiment_tag("stage", "dev")
    mlflow.set_experiment_tags({"owner": "alice", "note": "ünïcødé ✓"})
    tags = mlflow.get_experiment(exp.experiment_id).tags
    assert tags["stage"] == "dev"
    assert tags["owner"] == "alice"
    assert tags["note"] == "ünïcødé ✓"
    # overwrite
    mlflow.set_experiment_tag("stage", "prod")
    assert mlflow.get_experiment(exp.experiment_id).tags["stage"] == "prod"


# --------------------------------------------------------------------------- runs


def test_start_run_without_name_gets_generated_name(uniq):
    mlflow.set_experiment(uniq("exp-runname"))
    with mlflow.start_run() as run:
        run_id = run.info.run_id
    fetched = mlflow.get_run(run_id)
    name = fetched.info.run_name
    assert name, "the server must generate a run name"
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d+", name), name
    assert fetched.data.tags["mlflow.runName"] == name
    assert fetched.info.status == "FINISHED"
    assert fetched.info.end_time >= fetched.info.start_time
    assert fetched.info.lifecycle_stage == "active"


def test_start_run_with_name(uniq):
    exp = mlflow.set_experiment(uniq("exp-runname2"))
    with mlflow.start_run(run_name="my-named-run", tags={"team": "a"}, description="desc") as run:
        assert run.info.run_name == "my-named-run"
        assert run.info.status == "RUNNING"
        assert run.info.experiment_id == exp.experiment_id
        assert run.info.artifact_uri == (
            f"mlflow-artifacts:/{exp.experiment_id}/{run.info.run_id}/artifacts"
        )
    got = mlflow.get_run(run.info.run_id)
    assert got.info.run_name == "my-named-run"
    assert got.info.run_id == run.info.run_id
    assert re.fullmatch(r"[0-9a-f]{32}", got.info.run_id)
    assert got.data.tags["mlflow.runName"] == "my-named-run"
    assert got.data.tags["team"] == "a"
    assert got.data.tags["mlflow.note.content"] == "desc"
    assert got.data.tags["mlflow.user"]
    assert got.data.tags["mlflow.source.type"] == "LOCAL"


def test_log_params_metrics_tags(uniq):
    mlflow.set_experiment(uniq("exp-log"))
    with mlflow.start_run() as run:
        mlflow.log_param("n_estimators", 100)
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"optimizer": "adam", "layers": [64, 32], "flag": True, "text": "ünï ✓"})
        for step, v in enumerate([0.5, 0.7, 0.9]):
            mlflow.log_metric("accuracy", v, step=step)
        mlflow.log_metrics({"loss": 0.25, "f1": 0.8}, step=3)
        mlflow.log_metric("neg", -1.5)
        mlflow.log_metric("big", 1.5e300)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"owner": "bob", "temp": "x"})
        mlflow.delete_tag("temp")
        run_id = run.info.run_id

    data = mlflow.get_run(run_id).data
    assert data.params == {
        "n_estimators": "100",
        "lr": "0.01",
        "optimizer": "adam",
        "layers": "[64, 32]",
        "flag": "True",
        "text": "ünï ✓",
    }
    assert data.metrics["accuracy"] == pytest.approx(0.9)
    assert data.metrics["loss"] == pytest.approx(0.25)
    assert data.metrics["f1"] == pytest.approx(0.8)
    assert data.metrics["neg"] == pytest.approx(-1.5)
    assert data.metrics["big"] == pytest.approx(1.5e300)
    assert data.tags["stage"] == "dev"
    assert data.tags["owner"] == "bob"
    assert "temp" not in data.tags


def test_latest_metric_is_by_step_not_by_arrival(client, uniq):
    exp_id = client.create_experiment(uniq("exp-latest"))
    run_id = client.create_run(exp_id).info.run_id
    t = now_ms()
    client.log_metric(run_id, "m", 1.0, timestamp=t, step=5)
    client.log_metric(run_id, "m", 0.5, timestamp=t + 10, step=3)  # later arrival, lower step
    assert client.get_run(run_id).data.metrics["m"] == pytest.approx(1.0)
    # same step: the later timestamp wins
    client.log_metric(run_id, "m", 2.0, timestamp=t + 20, step=5)
    assert client.get_run(run_id).data.metrics["m"] == pytest.approx(2.0)


def test_metric_history(client, uniq):
    exp_id = client.create_experiment(uniq("exp-hist"))
    run_id = client.create_run(exp_id).info.run_id
    t0 = now_ms()
    values = [(0, 0.97), (1, 0.98), (2, 0.99)]
    for step, v in values:
        client.log_metric(run_id, "accuracy", v, timestamp=t0 + step, step=step)
    hist = client.get_metric_history(run_id, "accuracy")
    got = sorted((m.step, m.value, m.timestamp) for m in hist)
    assert got == [(s, pytest.approx(v), t0 + s) for s, v in values]
    assert all(m.key == "accuracy" for m in hist)
    assert client.get_metric_history(run_id, "no-such-metric") == []


def test_special_metric_values(client, uniq):
    exp_id = client.create_experiment(uniq("exp-nan"))
    run_id = client.create_run(exp_id).info.run_id
    client.log_metric(run_id, "nan", float("nan"), step=0)
    client.log_metric(run_id, "zero", 0.0, step=0)
    client.log_metric(run_id, "tiny", 1e-300, step=0)
    metrics = client.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["zero"] == 0.0
    assert metrics["tiny"] == pytest.approx(1e-300)
    (h,) = client.get_metric_history(run_id, "nan")
    assert math.isnan(h.value)


def test_log_batch(client, uniq):
    exp_id = client.create_experiment(uniq("exp-batch"))
    run_id = client.create_run(exp_id).info.run_id
    t = now_ms()
    client.log_batch(
        run_id,
        metrics=[Metric("loss", 1.0 / (s + 1), t + s, s) for s in range(10)] + [Metric("acc", 0.9, t, 0)],
        params=[Param("p1", "a"), Param("p2", "b")],
        tags=[RunTag("t1", "x"), RunTag("t2", "y")],
    )
    run = client.get_run(run_id)
    assert run.data.params == {"p1": "a", "p2": "b"}
    assert run.data.tags["t1"] == "x" and run.data.tags["t2"] == "y"
    assert run.data.metrics["loss"] == pytest.approx(0.1)
    assert run.data.metrics["acc"] == pytest.approx(0.9)
    hist = client.get_metric_history(run_id, "loss")
    assert sorted(m.step for m in hist) == list(range(10))


def test_log_batch_many_values(client, uniq):
    """Batches at the client's limits (1000 metrics, 100 params, 100 tags per request)."""
    exp_id = client.create_experiment(uniq("exp-bigbatch"))
    run_id = client.create_run(exp_id).info.run_id
    t = now_ms()
    client.log_batch(
        run_id,
        metrics=[Metric("series", float(s), t + s, s) for s in range(1000)],
        params=[Param(f"param_{i:03d}", str(i)) for i in range(100)],
        tags=[RunTag(f"tag_{i:03d}", "v" * 50) for i in range(100)],
    )
    run = client.get_run(run_id)
    assert len(run.data.params) == 100
    assert run.data.params["param_042"] == "42"
    assert sum(1 for k in run.data.tags if k.startswith("tag_")) == 100
    assert run.data.metrics["series"] == 999.0
    hist = client.get_metric_history(run_id, "series")
    assert len(hist) == 1000
    assert sorted(m.value for m in hist) == [float(s) for s in range(1000)]
    # the fluent API splits bigger dicts into several batches
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"k{i}": float(i) for i in range(1500)})
    assert len(client.get_run(run_id).data.metrics) == 1 + 1500


def test_long_and_odd_keys_and_values(client, uniq):
    exp_id = client.create_experiment(uniq("exp-odd"))
    run_id = client.create_run(exp_id).info.run_id
    long_value = "x" * 500
    client.log_param(run_id, "nested/key.with-dots_and space", long_value)
    client.set_tag(run_id, "emoji", "🚀 ünïcødé")
    client.set_tag(run_id, "long_tag", "y" * 5000)
    client.log_metric(run_id, "a/b.c", 1.0)
    data = client.get_run(run_id).data
    assert data.params["nested/key.with-dots_and space"] == long_value
    assert data.tags["emoji"] == "🚀 ünïcødé"
    assert data.tags["long_tag"] == "y" * 5000
    assert data.metrics["a/b.c"] == 1.0


def test_param_relog(client, uniq):
    exp_id = client.create_experiment(uniq("exp-relog"))
    run_id = client.create_run(exp_id).info.run_id
    client.log_param(run_id, "p", "1")
    client.log_param(run_id, "p", "1")  # same value: allowed
    with pytest.raises(MlflowException) as ei:
        client.log_param(run_id, "p", "2")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as ei:
        client.log_batch(run_id, params=[Param("p", "3")])
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params == {"p": "1"}


def test_get_missing_run(client):
    with pytest.raises(MlflowException) as ei:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_end_run_status_and_rename(client, uniq):
    mlflow.set_experiment(uniq("exp-status"))
    run = mlflow.start_run(run_name="before")
    run_id = run.info.run_id
    mlflow.end_run(status="FAILED")
    info = client.get_run(run_id).info
    assert info.status == "FAILED"
    assert info.end_time is not None and info.end_time >= info.start_time

    client.set_terminated(run_id, status="KILLED")
    assert client.get_run(run_id).info.status == "KILLED"

    client.update_run(run_id, name="after")
    after = client.get_run(run_id)
    assert after.info.run_name == "after"
    assert after.data.tags["mlflow.runName"] == "after"
    assert after.info.status == "KILLED"

    client.update_run(run_id, status="FINISHED")
    assert client.get_run(run_id).info.status == "FINISHED"
    assert RunStatus.is_terminated(RunStatus.from_string(client.get_run(run_id).info.status))


def test_nested_runs(uniq):
    exp = mlflow.set_experiment(uniq("exp-nested"))
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            pass
    got = mlflow.get_run(child.info.run_id)
    assert got.data.tags["mlflow.parentRunId"] == parent.info.run_id
    children = mlflow.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        output_format="list",
    )
    assert [r.info.run_id for r in children] == [child.info.run_id]


def test_delete_restore_run(client, uniq):
    exp_id = client.create_experiment(uniq("exp-delrun"))
    keep = client.create_run(exp_id, run_name="keep").info.run_id
    gone = client.create_run(exp_id, run_name="gone").info.run_id
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"

    def ids(view):
        return sorted(r.info.run_id for r in client.search_runs([exp_id], run_view_type=view))

    assert ids(ViewType.ACTIVE_ONLY) == [keep]
    assert ids(ViewType.DELETED_ONLY) == [gone]
    assert ids(ViewType.ALL) == sorted([keep, gone])
    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == sorted([keep, gone])


# --------------------------------------------------------------------------- search_runs


@pytest.fixture
def search_exp(client, uniq):
    """Five finished runs r0..r4 like the captured search workflow, plus extra fields to filter on."""
    exp_id = client.create_experiment(uniq("exp-search"))
    spec = [
        # name, max_depth, accuracy, optimizer, owner, team
        ("r0", "10", 0.85, "adam", "Alice", "a"),
        ("r1", "10", 0.95, "adamw", "bob", "b"),
        ("r2", "5", 0.99, "sgd", "ALICE", "a"),
        ("r3", "10", 0.92, "adagrad", "carol", "b"),
        ("r4", "10", 0.97, "sgd", "alice", "a"),
    ]
    runs = {}
    t = now_ms()
    for i, (name, depth, acc, opt, owner, team) in enumerate(spec):
        run = client.create_run(exp_id, run_name=name, start_time=t + i * 1000, tags={"team": team})
        rid = run.info.run_id
        client.log_batch(
            rid,
            metrics=[Metric("accuracy", acc, t + i, 0), Metric("loss", 1 - acc, t + i, 0)],
            params=[Param("max_depth", depth), Param("optimizer", opt)],
            tags=[RunTag("owner", owner)],
        )
        client.set_terminated(rid, end_time=t + i * 1000 + 500)
        runs[name] = rid
    return exp_id, runs


def _names(runs):
    return [r.info.run_name for r in runs]


def test_search_runs_filter_and_order(client, search_exp):
    exp_id, runs = search_exp
    res = client.search_runs(
        [exp_id],
        filter_string="metrics.accuracy > 0.9 and params.max_depth = '10'",
        order_by=["metrics.accuracy DESC"],
    )
    assert _names(res) == ["r4", "r1", "r3"]
    res = client.search_runs([exp_id], order_by=["metrics.loss ASC"])
    assert _names(res) == ["r2", "r4", "r1", "r3", "r0"]
    res = client.search_runs([exp_id], filter_string="metrics.loss <= 0.04")
    assert sorted(_names(res)) == ["r2", "r4"]
    res = client.search_runs([exp_id], filter_string="params.max_depth != '10'")
    assert _names(res) == ["r2"]
    res = client.search_runs([exp_id], order_by=["params.optimizer ASC", "metrics.accuracy DESC"])
    assert _names(res) == ["r3", "r0", "r1", "r2", "r4"]


def test_search_runs_attributes(client, search_exp):
    exp_id, runs = search_exp
    res = client.search_runs([exp_id], order_by=["attributes.start_time DESC"])
    assert _names(res) == ["r4", "r3", "r2", "r1", "r0"]
    res = client.search_runs([exp_id], order_by=["attributes.start_time ASC"])
    assert _names(res) == ["r0", "r1", "r2", "r3", "r4"]
    start_r2 = client.get_run(runs["r2"]).info.start_time
    res = client.search_runs([exp_id], filter_string=f"attributes.start_time > {start_r2}")
    assert sorted(_names(res)) == ["r3", "r4"]
    res = client.search_runs([exp_id], filter_string="attributes.run_name = 'r3'")
    assert _names(res) == ["r3"]
    res = client.search_runs([exp_id], filter_string="attributes.status = 'FINISHED'")
    assert len(res) == 5
    res = client.search_runs([exp_id], filter_string="attributes.status = 'RUNNING'")
    assert res == []
    res = client.search_runs([exp_id], filter_string=f"attributes.run_id = '{runs['r1']}'")
    assert _names(res) == ["r1"]
    res = client.search_runs([exp_id], order_by=["attributes.run_name DESC"])
    assert _names(res) == ["r4", "r3", "r2", "r1", "r0"]


def test_search_runs_tags_like_ilike_in(client, search_exp):
    exp_id, runs = search_exp
    res = client.search_runs([exp_id], filter_string="tags.team = 'a'")
    assert sorted(_names(res)) == ["r0", "r2", "r4"]
    res = client.search_runs([exp_id], filter_string="tags.`mlflow.runName` = 'r1'")
    assert _names(res) == ["r1"]
    res = client.search_runs([exp_id], filter_string="params.optimizer LIKE 'ada%'")
    assert sorted(_names(res)) == ["r0", "r1", "r3"]
    res = client.search_runs([exp_id], filter_string="tags.owner LIKE 'alice'")
    assert _names(res) == ["r4"]  # LIKE is case-sensitive
    res = client.search_runs([exp_id], filter_string="tags.owner ILIKE '%alice%'")
    assert sorted(_names(res)) == ["r0", "r2", "r4"]
    # IN / NOT IN: the reference server accepts lists for run_id only
    ids = ", ".join(f"'{runs[n]}'" for n in ("r1", "r3"))
    res = client.search_runs([exp_id], filter_string=f"attributes.run_id IN ({ids}, 'nope')")
    assert sorted(_names(res)) == ["r1", "r3"]
    res = client.search_runs([exp_id], filter_string=f"attributes.run_id NOT IN ({ids})")
    assert sorted(_names(res)) == ["r0", "r2", "r4"]
    res = client.search_runs(
        [exp_id], filter_string="tags.team = 'a' AND params.optimizer = 'sgd' AND metrics.accuracy < 0.98"
    )
    assert _names(res) == ["r4"]


def test_search_runs_pagination(client, search_exp):
    exp_id, runs = search_exp
    seen, pages = _all_pages(
        client.search_runs, experiment_ids=[exp_id], max_results=2, order_by=["attributes.start_time DESC"]
    )
    assert _names(seen) == ["r4", "r3", "r2", "r1", "r0"]
    assert pages == 3
    page = client.search_runs([exp_id], max_results=5)
    assert len(page) == 5
    assert not page.token


def test_search_runs_view_type(client, search_exp):
    exp_id, runs = search_exp
    client.delete_run(runs["r0"])
    assert sorted(_names(client.search_runs([exp_id]))) == ["r1", "r2", "r3", "r4"]
    assert _names(client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)) == ["r0"]
    assert len(client.search_runs([exp_id], run_view_type=ViewType.ALL)) == 5


def test_search_runs_pandas(search_exp):
    exp_id, runs = search_exp
    df = mlflow.search_runs(
        experiment_ids=[exp_id],
        filter_string="metrics.accuracy > 0.9 and params.max_depth = '10'",
        order_by=["metrics.accuracy DESC"],
    )
    assert list(df["tags.mlflow.runName"]) == ["r4", "r1", "r3"]
    assert list(df["run_id"]) == [runs["r4"], runs["r1"], runs["r3"]]
    assert list(df["metrics.accuracy"]) == pytest.approx([0.97, 0.95, 0.92])
    assert set(df["params.max_depth"]) == {"10"}
    assert set(df["status"]) == {"FINISHED"}
    for col in ("experiment_id", "start_time", "end_time", "artifact_uri", "params.optimizer", "tags.owner"):
        assert col in df.columns, col
    # empty result is an empty frame, not an error
    assert len(mlflow.search_runs([exp_id], filter_string="metrics.accuracy > 2")) == 0
    # max_results caps the rows (the fluent API pages internally)
    assert len(mlflow.search_runs([exp_id], max_results=3)) == 3


def test_search_runs_by_experiment_name(search_exp, client):
    exp_id, runs = search_exp
    name = client.get_experiment(exp_id).name
    df = mlflow.search_runs(experiment_names=[name], filter_string="params.optimizer = 'sgd'")
    assert sorted(df["tags.mlflow.runName"]) == ["r2", "r4"]


def test_search_runs_across_experiments(client, uniq):
    a = client.create_experiment(uniq("exp-x1"))
    b = client.create_experiment(uniq("exp-x2"))
    ra = client.create_run(a, run_name="in-a").info.run_id
    rb = client.create_run(b, run_name="in-b").info.run_id
    res = client.search_runs([a, b])
    assert sorted(r.info.run_id for r in res) == sorted([ra, rb])
    assert {r.info.experiment_id for r in res} == {a, b}


def test_search_runs_bad_filter(client, search_exp):
    exp_id, _ = search_exp
    with pytest.raises(MlflowException) as ei:
        client.search_runs([exp_id], filter_string="metrics.accuracy >>> 1")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"


# --------------------------------------------------------------------------- the course's examples


def test_seed_k8s_demo_tracking_example(server):
    # tracking_example.py from the course, verbatim but for the server address
    import mlflow

    mlflow.set_tracking_uri(server)
    mlflow.set_experiment("k8s-demo")

    with mlflow.start_run():
        mlflow.log_param("learning_rate", 0.01)
        mlflow.log_param("epochs", 10)
        mlflow.log_metric("accuracy", 0.95)
        mlflow.log_metric("loss", 0.05)
        print(f"Run: {mlflow.active_run().info.run_id}")
        run_id = mlflow.active_run().info.run_id

    run = mlflow.get_run(run_id)
    assert run.data.params == {"learning_rate": "0.01", "epochs": "10"}
    assert run.data.metrics == {"accuracy": 0.95, "loss": 0.05}
    assert run.info.status == "FINISHED"
    exp = mlflow.get_experiment_by_name("k8s-demo")
    assert exp is not None and run.info.experiment_id == exp.experiment_id


def test_seed_war_story_example(server):
    # "The fix" from the course's war story. `mlflow.log_model(model, "model")` from the course is not
    # an mlflow API (AttributeError on every version), so that one line is left out.
    import mlflow

    assert not hasattr(mlflow, "log_model")
    mlflow.set_tracking_uri(server)
    mlflow.set_experiment("notebook-experiments")

    # Now every experiment is recorded
    with mlflow.start_run(run_name="experiment-v42"):
        mlflow.log_params({
            "learning_rate": 0.01,
            "batch_size": 32,
            "epochs": 100,
            "architecture": "resnet50"
        })
        # Train...
        mlflow.log_metric("accuracy", 0.98)
        run_id = mlflow.active_run().info.run_id

    # Later: "Which run had 98% accuracy?"
    runs = mlflow.search_runs(filter_string="metrics.accuracy > 0.97")

    assert run_id in list(runs["run_id"])
    row = runs[runs["run_id"] == run_id].iloc[0]
    assert row["tags.mlflow.runName"] == "experiment-v42"
    assert row["metrics.accuracy"] == pytest.approx(0.98)
    assert row["params.learning_rate"] == "0.01"
    assert row["params.batch_size"] == "32"
    assert row["params.epochs"] == "100"
    assert row["params.architecture"] == "resnet50"
    # and a run below the threshold is not returned
    with mlflow.start_run(run_name="experiment-v41"):
        mlflow.log_metric("accuracy", 0.91)
    again = mlflow.search_runs(filter_string="metrics.accuracy > 0.97")
    assert "experiment-v41" not in set(again["tags.mlflow.runName"])


def test_seed_basic_tracking_example(server):
    # "Basic Tracking" from the course, verbatim but for the server address, a fixed split seed and
    # SKLEARN_LOG_KWARGS (mlflow 3 saves with skops, which refuses tree models unless trusted).
    import mlflow
    import mlflow.sklearn
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    # Set tracking URI (server address)
    mlflow.set_tracking_uri(server)

    # Set experiment
    mlflow.set_experiment("iris-classification")

    # Load data
    iris = load_iris()
    X_train, X_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.2, random_state=0
    )

    # Start a run
    with mlflow.start_run():
        # Log parameters
        n_estimators = 100
        max_depth = 10
        mlflow.log_param("n_estimators", n_estimators)
        mlflow.log_param("max_depth", max_depth)

        # Train model
        model = RandomForestClassifier(
            n_estimators=n_estimators,
            max_depth=max_depth
        )
        model.fit(X_train, y_train)

        # Log metrics
        accuracy = model.score(X_test, y_test)
        mlflow.log_metric("accuracy", accuracy)

        # Log model
        mlflow.sklearn.log_model(model, "model", **SKLEARN_LOG_KWARGS)

        print(f"Run ID: {mlflow.active_run().info.run_id}")
        print(f"Accuracy: {accuracy}")
        run_id = mlflow.active_run().info.run_id

    run = mlflow.get_run(run_id)
    assert run.data.params == {"n_estimators": "100", "max_depth": "10"}
    assert run.data.metrics["accuracy"] == pytest.approx(accuracy)
    assert accuracy > 0.8
    loaded = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    rows, labels = iris_rows()
    assert list(loaded.predict(rows)) == labels
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    assert list(pyfunc.predict(rows)) == labels


def test_sklearn_autolog(uniq):
    from sklearn.ensemble import RandomForestClassifier

    mlflow.set_experiment(uniq("exp-autolog"))
    X_train, X_test, y_train, y_test = iris_split()
    mlflow.sklearn.autolog(log_input_examples=False, silent=True)
    try:
        model = RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0)
        model.fit(X_train, y_train)
    finally:
        mlflow.sklearn.autolog(disable=True)
    run = mlflow.last_active_run()
    assert run is not None
    run = mlflow.get_run(run.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["n_estimators"] == "15"
    assert run.data.params["max_depth"] == "4"
    assert "criterion" in run.data.params
    for m in ("training_accuracy_score", "training_f1_score", "training_precision_score"):
        assert m in run.data.metrics, sorted(run.data.metrics)
    assert 0.8 < run.data.metrics["training_accuracy_score"] <= 1.0
    assert run.data.tags["estimator_name"] == "RandomForestClassifier"
    assert run.data.tags["estimator_class"] == "sklearn.ensemble._forest.RandomForestClassifier"
    # autolog records the training data as a dataset input
    assert len(run.inputs.dataset_inputs) >= 1
    ds = run.inputs.dataset_inputs[0].dataset
    assert ds.digest and ds.name

    client = mlflow.MlflowClient()
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"estimator.html", "training_confusion_matrix.png"} <= artifacts, artifacts

    # and a model that loads back and predicts
    if MLFLOW_MAJOR >= 3:
        models = client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'",
        )
        assert len(models) == 1
        model_uri = f"models:/{models[0].model_id}"
        assert run.outputs.model_outputs[0].model_id == models[0].model_id
    else:
        paths = [f.path for f in client.list_artifacts(run.info.run_id, "model")]
        assert "model/MLmodel" in paths
        model_uri = f"runs:/{run.info.run_id}/model"
    loaded = mlflow.pyfunc.load_model(model_uri)
    rows, labels = iris_rows()
    assert list(loaded.predict(rows)) == labels

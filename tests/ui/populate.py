"""Populate a tracking server for the UI tests through the real `mlflow` client.

The seed module's iris example: several RandomForest runs with different n_estimators and
max_depth, accuracy logged over steps (the forest grows with warm_start), params, a text, a JSON
and a PNG artifact, sklearn models logged for two runs and registered as `iris-classifier`
versions 1 and 2 with the alias `champion` on the best one. Also one run in its own experiment
with a 100,000-point metric for the downsampled chart.

    MLFLOW_TRACKING_URI=http://127.0.0.1:PORT python tests/ui/populate.py
"""
import json
import math
import os
import sys
import tempfile
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import mlflow.sklearn  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.metrics import confusion_matrix, f1_score, log_loss  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

EXPERIMENT = "iris-classification"
MODEL = "iris-classifier"
# (n_estimators, max_depth) on a fixed split: small depth-1 forests stay under 0.97, one lands
# between 0.97 and 0.98, the deeper ones reach 0.98+ (the course's "98% run").
GRID = [(5, 1), (10, 1), (20, 1), (50, 1), (100, 3), (10, 2)]
STEPS = 10
# Small forests grown in 10 steps repeat a tree count now and then; sklearn warns each time.
warnings.filterwarnings("ignore", message="Warm-start fitting without increasing n_estimators")


def train_one(X_train, X_test, y_train, y_test, n_estimators, max_depth, tmp):
    run_name = f"rf-n{n_estimators}-d{max_depth}"
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_param("n_estimators", n_estimators)
        mlflow.log_param("max_depth", max_depth)
        mlflow.log_param("criterion", "gini")
        mlflow.set_tag("team", "course-9.2")
        model = RandomForestClassifier(
            n_estimators=1, max_depth=max_depth, random_state=7, warm_start=True
        )
        history = []
        for step in range(1, STEPS + 1):
            model.n_estimators = max(1, round(n_estimators * step / STEPS))
            model.fit(X_train, y_train)
            acc = model.score(X_test, y_test)
            loss = log_loss(y_test, model.predict_proba(X_test), labels=[0, 1, 2])
            ts = int(time.time() * 1000)
            history += [Metric("accuracy", acc, ts, step), Metric("log_loss", loss, ts, step)]
        MlflowClient().log_batch(run.info.run_id, metrics=history)
        accuracy = model.score(X_test, y_test)
        pred = model.predict(X_test)
        mlflow.log_metric("f1_macro", f1_score(y_test, pred, average="macro"))

        meta = {"training_date": "2024-01-15", "data_version": "v2.3", "feature_count": 4,
                "n_estimators": n_estimators, "max_depth": max_depth, "accuracy": accuracy}
        with open(os.path.join(tmp, "metadata.json"), "w") as f:
            json.dump(meta, f, indent=2)
        mlflow.log_artifact(os.path.join(tmp, "metadata.json"))
        os.makedirs(os.path.join(tmp, "notes"), exist_ok=True)
        with open(os.path.join(tmp, "notes", "summary.txt"), "w") as f:
            f.write(f"Random forest with {n_estimators} trees, max depth {max_depth}.\n"
                    f"Test accuracy: {accuracy:.4f}\n")
        mlflow.log_artifacts(os.path.join(tmp, "notes"), artifact_path="notes")
        cm = confusion_matrix(y_test, pred)
        fig, ax = plt.subplots(figsize=(3.2, 3.2), dpi=80)
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in __import__("numpy").ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center")
        ax.set_title("Confusion matrix")
        fig.tight_layout()
        fig.savefig(os.path.join(tmp, "confusion_matrix.png"))
        plt.close(fig)
        mlflow.log_artifact(os.path.join(tmp, "confusion_matrix.png"))
        return run.info.run_id, run_name, accuracy, model


def main():
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        sys.exit("set MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(EXPERIMENT)
    iris = load_iris(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.3, random_state=10, stratify=iris.target
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, d in GRID:
            results.append(train_one(X_train, X_test, y_train, y_test, n, d, tmp))
    for run_id, name, acc, _ in results:
        print(f"run {name} {run_id} accuracy={acc:.4f}")
    if not any(acc >= 0.98 for _, _, acc, _ in results):
        sys.exit("no run reached 0.98 accuracy; the filter test needs one")
    if not any(acc <= 0.97 for _, _, acc, _ in results):
        sys.exit("every run is above 0.97; the filter test needs some below")

    # Register two versions: a weaker run as v1, the best run as v2 with the alias champion.
    ranked = sorted(results, key=lambda r: r[2])
    client = MlflowClient()
    for run_id, _, _, model in (ranked[len(ranked) // 2], ranked[-1]):
        with mlflow.start_run(run_id=run_id):
            mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL,
                                     input_example=X_train.iloc[:2],
                                     skops_trusted_types=["sklearn.tree._tree.Tree"])
    client.update_registered_model(MODEL, description="Iris species classifier (course 9.2).")
    client.set_registered_model_tag(MODEL, "task", "classification")
    client.transition_model_version_stage(MODEL, "1", "Staging")
    client.transition_model_version_stage(MODEL, "2", "Production")
    client.set_registered_model_alias(MODEL, "champion", "2")
    client.set_registered_model_alias(MODEL, "challenger", "1")
    client.set_model_version_tag(MODEL, "2", "validated", "true")

    # A long series for the downsampled chart: 100k steps with a few spikes.
    mlflow.set_experiment("long-training")
    with mlflow.start_run(run_name="long-series") as run:
        mlflow.log_param("optimizer", "adam")
        ts = int(time.time() * 1000)
        batch = []
        for step in range(100_000):
            v = 2.0 * math.exp(-step / 20000) + 0.05 * math.sin(step / 50)
            if step in (12_345, 61_000, 88_888):
                v += 5.0
            batch.append(Metric("train_loss", v, ts + step, step))
            if len(batch) == 1000:
                client.log_batch(run.info.run_id, metrics=batch)
                batch = []
        print(f"run long-series {run.info.run_id} (100000 points of train_loss)")
    print("populate: done")


if __name__ == "__main__":
    main()

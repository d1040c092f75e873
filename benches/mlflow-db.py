"""Build a large MLflow tracking database by bulk SQL in MLflow's own schema, and optionally time
`weir db import` of it.

    python benches/mlflow-db.py --uri sqlite:////tmp/mlflow-100k.db --runs 100000 \
        [--import-into sqlite:////tmp/weir.db] [--weir target/release/weir]

Run it with the mlflow venv's python (scripts/venv.sh mlflow3 tests/python/requirements-mlflow3.txt):
the schema comes from `mlflow db upgrade`, so it is exactly what MLflow's migrations make. Each
run gets 8 rows, the shape issue 19 measures: the run, params `depth` and `model`, metrics
`accuracy` and `loss` (history and latest), and its `mlflow.runName` tag, in one experiment.
--uri may also be postgresql://user@host/db (the database must exist and be empty).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import time
import uuid


def rows(n: int, experiment_id: int, seed: int = 7):
    rnd = random.Random(seed)
    t0 = 1_700_000_000_000
    for i in range(n):
        run = uuid.UUID(int=rnd.getrandbits(128)).hex
        start = t0 + i * 1000
        name = f"sweep-{i:06d}"
        acc, loss = rnd.random(), rnd.random() * 2
        yield {
            "run": (run, name, "LOCAL", "", "", "bench", "FINISHED", start, start + 500, "", "active",
                    f"file:///tmp/mlruns/{experiment_id}/{run}/artifacts", experiment_id, None),
            "params": [("depth", str(rnd.randint(1, 12)), run), ("model", rnd.choice(["forest", "gbm", "linear"]), run)],
            "tags": [("mlflow.runName", name, run)],
            "metrics": [("accuracy", acc, start + 400, run, 0, False), ("loss", loss, start + 400, run, 0, False)],
        }


RUN_COLS = ("run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, "
            "end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time")


def mlflow_upgrade(uri: str) -> None:
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the venvs have psycopg2.
    if uri.startswith("postgresql://"):
        uri = uri.replace("postgresql://", "postgresql+psycopg2://", 1)
    subprocess.run([sys.executable, "-m", "mlflow", "db", "upgrade", uri], check=True,
                   capture_output=True)


def build_sqlite(path: str, n: int) -> None:
    import sqlite3

    c = sqlite3.connect(path)
    c.execute("INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) "
              "VALUES ('bench', 'file:///tmp/mlruns/1', 'active', 1700000000000, 1700000000000)")
    exp = c.execute("SELECT MAX(experiment_id) FROM experiments").fetchone()[0]
    batch = []
    for r in rows(n, exp):
        batch.append(r)
        if len(batch) == 10_000:
            write_sqlite(c, batch)
            batch = []
    write_sqlite(c, batch)
    c.commit()
    c.close()


def write_sqlite(c, batch) -> None:
    c.executemany(f"INSERT INTO runs ({RUN_COLS}) VALUES ({', '.join(['?'] * 14)})", [r["run"] for r in batch])
    c.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", [p for r in batch for p in r["params"]])
    c.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", [t for r in batch for t in r["tags"]])
    metrics = [m for r in batch for m in r["metrics"]]
    c.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", metrics)
    c.executemany("INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
                  metrics)


def build_postgres(uri: str, n: int) -> None:
    import psycopg2

    c = psycopg2.connect(uri.replace("postgresql+psycopg2://", "postgresql://"))
    cur = c.cursor()
    cur.execute("INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) "
                "VALUES ('bench', 'file:///tmp/mlruns/1', 'active', 1700000000000, 1700000000000) RETURNING experiment_id")
    exp = cur.fetchone()[0]
    buffers = {k: io.StringIO() for k in ("runs", "params", "tags", "metrics")}

    def line(values) -> str:
        return "\t".join("\\N" if v is None else ("t" if v is True else "f" if v is False else str(v))
                         for v in values) + "\n"

    for r in rows(n, exp):
        buffers["runs"].write(line(r["run"]))
        for p in r["params"]:
            buffers["params"].write(line(p))
        for t in r["tags"]:
            buffers["tags"].write(line(t))
        for m in r["metrics"]:
            buffers["metrics"].write(line(m))
    cols = {"runs": RUN_COLS, "params": "key, value, run_uuid", "tags": "key, value, run_uuid",
            "metrics": "key, value, timestamp, run_uuid, step, is_nan"}
    for table in ("runs", "params", "tags", "metrics"):
        buffers[table].seek(0)
        cur.copy_expert(f"COPY {table} ({cols[table]}) FROM STDIN", buffers[table])
    buffers["metrics"].seek(0)
    cur.copy_expert(f"COPY latest_metrics ({cols['metrics']}) FROM STDIN", buffers["metrics"])
    c.commit()
    cur.execute("ANALYZE")
    c.commit()
    c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uri", required=True, help="sqlite:////path.db or postgresql://user@host/db")
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--import-into", help="a Weir store URI to import into, timed")
    ap.add_argument("--weir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "weir"))
    args = ap.parse_args()

    t = time.monotonic()
    if args.uri.startswith("sqlite:///"):
        path = args.uri[len("sqlite:///"):]
        if os.path.exists(path):
            os.remove(path)
    mlflow_upgrade(args.uri)
    if args.uri.startswith("sqlite:///"):
        build_sqlite(args.uri[len("sqlite:///"):], args.runs)
    else:
        build_postgres(args.uri, args.runs)
    print(f"built {args.runs} runs ({args.runs * 8} rows) in {time.monotonic() - t:.1f}s: {args.uri}")

    if args.import_into:
        t = time.monotonic()
        subprocess.run([args.weir, "db", "import", "--from", args.uri, "--backend-store-uri", args.import_into],
                       check=True)
        secs = time.monotonic() - t
        print(f"weir db import: {secs:.1f}s, {args.runs / secs:,.0f} runs/s, {args.runs * 8 / secs:,.0f} rows/s")


if __name__ == "__main__":
    main()

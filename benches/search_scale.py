#!/usr/bin/env python3
"""Time runs/search on a large experiment: p50 and p99 of each query shape of issue 19.

    benches/search_scale.py --url http://127.0.0.1:5000 --experiment-id 1 [--reps 30]

benches/scale.sh builds the database (an MLflow one, imported with `weir db import`) and runs this.

Every shape is asked `--reps` times after one warm-up, one request at a time, and the answer is
checked (a page of runs; the deep-page shapes follow page tokens). Prints a Markdown table and
writes JSON with --json. Standard library only.
"""
import argparse
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request

SHAPES = [
    ("default order", "", [], 100),
    ("metrics.accuracy > 0.9, by metrics.accuracy DESC", "metrics.accuracy > 0.9", ["metrics.accuracy DESC"], 100),
    ("params.depth = '3', by metrics.loss ASC", "params.depth = '3'", ["metrics.loss ASC"], 100),
    ("metrics.accuracy > 0.5 and params.depth = '7', 1000 results",
     "metrics.accuracy > 0.5 and params.depth = '7'", [], 1000),
    ("tags.mlflow.runName LIKE 'sweep-99999%'", "tags.mlflow.runName LIKE 'sweep-99999%'", [], 100),
    ("metrics.accuracy > 0.999 OR params.depth = '1', by metrics.accuracy DESC",
     "metrics.accuracy > 0.999 OR params.depth = '1'", ["metrics.accuracy DESC"], 100),
]


def search(url, body):
    req = urllib.request.Request(url + "/api/2.0/mlflow/runs/search", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--experiment-id", default="1")
    ap.add_argument("--experiment-name", help="look the experiment up by name instead")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--deep-page", type=int, default=50, help="which page of the default order to time")
    ap.add_argument("--label", default="")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.experiment_name:
        q = urllib.parse.urlencode({"experiment_name": a.experiment_name})
        with urllib.request.urlopen(f"{a.url}/api/2.0/mlflow/experiments/get-by-name?{q}", timeout=60) as r:
            a.experiment_id = json.loads(r.read())["experiment"]["experiment_id"]
    exp = [a.experiment_id]
    rows = []
    for name, flt, order, n in SHAPES:
        body = {"experiment_ids": exp, "filter": flt, "order_by": order, "max_results": n}
        search(a.url, body)  # warm-up
        times, count = [], 0
        for _ in range(a.reps):
            ms, out = timed(lambda: search(a.url, body))
            times.append(ms)
            count = len(out.get("runs", []))
        rows.append((name, statistics.median(times), pct(times, 99), count))
        print(f"# {name}: p50 {rows[-1][1]:.1f} ms, p99 {rows[-1][2]:.1f} ms, {count} runs", file=sys.stderr)
    # Page N: follow the tokens to it, then time asking for it again.
    for label, order in (("default order", []), ("by metrics.accuracy DESC", ["metrics.accuracy DESC"])):
        body = {"experiment_ids": exp, "max_results": 100, "order_by": order}
        token = None
        for _ in range(a.deep_page - 1):
            token = search(a.url, {**body, "page_token": token} if token else body)["next_page_token"]
        times = []
        for _ in range(a.reps):
            ms, out = timed(lambda: search(a.url, {**body, "page_token": token}))
            times.append(ms)
        rows.append((f"{label}, page {a.deep_page} (token)", statistics.median(times), pct(times, 99), len(out["runs"])))
    body = {"experiment_ids": exp, "max_results": 100}
    # The same page by MLflow's bare offset token.
    import base64
    off = base64.b64encode(json.dumps({"offset": (a.deep_page - 1) * 100}).encode()).decode()
    times = []
    for _ in range(a.reps):
        ms, out = timed(lambda: search(a.url, {**body, "page_token": off}))
        times.append(ms)
    rows.append((f"default order, page {a.deep_page} (offset token)", statistics.median(times), pct(times, 99), len(out["runs"])))
    print(f"\n| Query {a.label} | p50 ms | p99 ms | runs |\n|---|---:|---:|---:|")
    for name, p50, p99, count in rows:
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {count} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump([dict(query=r[0], p50_ms=r[1], p99_ms=r[2], runs=r[3]) for r in rows], f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Two (or more) `weir server`s searched side by side, requests interleaved: p50 of each query
shape of benches/search_scale.py per server, and whether they answered the same runs.

    benches/search_ab.py --urls http://127.0.0.1:5101,http://127.0.0.1:5102 [--reps 15]

For comparing releases on one machine at one time (machines differ twofold between days):
import the same MLflow database once per binary (or copy one and let the newer binary migrate
it), serve each, and run this. Every server needs an experiment named `bench`. Standard library
only.
"""
import argparse
import hashlib
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_scale import SHAPES, search  # noqa: E402  (the shapes the scale bench times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--urls", required=True, help="comma-separated server URLs")
    ap.add_argument("--reps", type=int, default=15)
    a = ap.parse_args()
    urls = a.urls.split(",")
    exps = []
    for u in urls:
        with urllib.request.urlopen(f"{u}/api/2.0/mlflow/experiments/get-by-name?experiment_name=bench",
                                    timeout=60) as r:
            exps.append(json.loads(r.read())["experiment"]["experiment_id"])
    print("| Query | " + " | ".join(f"p50 ms {u}" for u in urls) + " | same runs |")
    print("|---|" + "---:|" * len(urls) + "---|")
    for name, flt, order, n in SHAPES:
        times, answers = [[] for _ in urls], set()
        for rep in range(a.reps + 1):  # the first round warms up
            for k, u in enumerate(urls):
                body = {"experiment_ids": [exps[k]], "filter": flt, "order_by": order, "max_results": n}
                t = time.perf_counter()
                out = search(u, body)
                if rep:
                    times[k].append((time.perf_counter() - t) * 1000)
                ids = [r["info"]["run_id"] for r in out.get("runs", [])]
                answers.add(hashlib.sha256(json.dumps(ids).encode()).hexdigest())
        cells = " | ".join(f"{statistics.median(t):.1f}" for t in times)
        print(f"| {name} | {cells} | {'yes' if len(answers) == 1 else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()

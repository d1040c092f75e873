"""Bulk-populate an experiment with many runs for the runs-table scale check (stdlib only).

Talks REST directly (runs/create + runs/log-batch over kept-alive connections from a thread
pool): 10 params and 10 metrics per run, i.e. 20 data columns.

    python tests/ui/populate_scale.py --url http://127.0.0.1:PORT [--runs 10000] [--threads 8]
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

local = threading.local()


def call(base, method, path, body):
    conn = getattr(local, "conn", None)
    if conn is None:
        u = urllib.parse.urlsplit(base)
        conn = local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    data = json.dumps(body).encode()
    for attempt in range(5):
        try:
            conn.request(method, "/api/2.0/mlflow/" + path, body=data,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            text = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            time.sleep(0.2 * (attempt + 1))
            continue
        if resp.status == 200:
            return json.loads(text or b"{}")
        if resp.status >= 500 or b"locked" in text:  # sqlite busy on the reference server
            time.sleep(0.2 * (attempt + 1))
            continue
        raise RuntimeError(f"{path}: {resp.status} {text[:300]!r}")
    raise RuntimeError(f"{path}: gave up after retries")


def one(base, exp_id, i):
    rnd = random.Random(i)
    now = int(time.time() * 1000)
    run = call(base, "POST", "runs/create", {
        "experiment_id": exp_id, "run_name": f"scale-{i:05d}", "start_time": now - rnd.randint(1000, 900000),
        "tags": [{"key": "batch", "value": f"b{i % 10}"}],
    })["run"]
    rid = run["info"]["run_id"]
    params = [
        {"key": "lr", "value": str(round(10 ** rnd.uniform(-4, -1), 6))},
        {"key": "batch_size", "value": str(rnd.choice([16, 32, 64, 128]))},
        {"key": "epochs", "value": str(rnd.randint(5, 50))},
        {"key": "optimizer", "value": rnd.choice(["adam", "sgd", "rmsprop"])},
        {"key": "dropout", "value": str(round(rnd.uniform(0, 0.5), 3))},
        {"key": "layers", "value": str(rnd.randint(1, 8))},
        {"key": "hidden", "value": str(rnd.choice([64, 128, 256, 512]))},
        {"key": "seed", "value": str(i)},
        {"key": "weight_decay", "value": str(round(rnd.uniform(0, 0.01), 5))},
        {"key": "warmup", "value": str(rnd.randint(0, 1000))},
    ]
    acc = rnd.uniform(0.5, 0.99)
    values = {"accuracy": acc, "val_accuracy": acc - rnd.uniform(0, 0.05), "loss": 1 - acc + rnd.uniform(0, 0.1),
              "val_loss": 1 - acc + rnd.uniform(0, 0.2), "f1": acc - rnd.uniform(0, 0.03),
              "precision": acc - rnd.uniform(0, 0.03), "recall": acc - rnd.uniform(0, 0.03),
              "auc": min(1, acc + rnd.uniform(0, 0.05)), "epoch_time_s": rnd.uniform(1, 60), "throughput": rnd.uniform(100, 5000)}
    metrics = [{"key": k, "value": v, "timestamp": now, "step": 0} for k, v in values.items()]
    call(base, "POST", "runs/log-batch", {"run_id": rid, "params": params, "metrics": metrics, "tags": []})
    call(base, "POST", "runs/update", {"run_id": rid, "run_uuid": rid, "status": "FINISHED", "end_time": now})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--experiment", default="scale-10k")
    args = ap.parse_args()
    exp_id = call(args.url, "POST", "experiments/create", {"name": args.experiment})["experiment_id"]
    t0 = time.time()
    done = 0
    with ThreadPoolExecutor(args.threads) as pool:
        for f in [pool.submit(one, args.url, exp_id, i) for i in range(args.runs)]:
            f.result()
            done += 1
            if done % 2000 == 0:
                print(f"populate_scale: {done} runs ({time.time() - t0:.0f}s)", flush=True)
    print(f"populate_scale: {args.runs} runs with 20 columns in experiment {exp_id} "
          f"in {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main())

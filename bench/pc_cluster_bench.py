#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench/pc_cluster_bench.py -- the Pinecone face on one node and on a 3-node cluster
(scripts/cluster-up.sh), same requests: upsert N random vectors (batches of 100, default
acknowledgement), then Q queries (topK 10) from one client, then from T client threads spread
over the cluster's nodes. Prints one line per measurement.

Run: /usr/bin/python3 bench/pc_cluster_bench.py [N] [Q] [T]   (QUIVER_BIN, default build/quiver)
"""
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
os.environ.setdefault("QUIVER_BIN", os.path.join(ROOT, "build", "quiver"))
from test_cluster import Cluster  # noqa: E402
from test_cluster_pinecone import Single  # noqa: E402

DIM = 64
SPEC = {"serverless": {"cloud": "aws", "region": "us-east-1"}}


def post(url, path, body):
    r = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                               headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r, timeout=60) as resp:
        return json.loads(resp.read())


def run(name, urls, n, q, t):
    rng = random.Random(1)
    post(urls[0], "/indexes", {"name": "bench", "dimension": DIM, "metric": "cosine", "spec": SPEC})
    t0 = time.time()
    for i in range(0, n, 100):
        post(urls[(i // 100) % len(urls)], "/data/bench/vectors/upsert",
             {"vectors": [{"id": f"v{j}", "values": [rng.uniform(-1, 1) for _ in range(DIM)],
                           "metadata": {"g": j % 10}} for j in range(i, min(n, i + 100))]})
    up = time.time() - t0
    qs = [[rng.uniform(-1, 1) for _ in range(DIM)] for _ in range(q)]
    lat = []
    for i, v in enumerate(qs):
        t1 = time.time()
        post(urls[i % len(urls)], "/data/bench/query", {"topK": 10, "vector": v, "filter": {"g": {"$lt": 5}}})
        lat.append((time.time() - t1) * 1e3)
    done = [0]

    def worker(k):
        for i in range(k, q, t):
            post(urls[i % len(urls)], "/data/bench/query", {"topK": 10, "vector": qs[i]})
            done[0] += 1
    th = [threading.Thread(target=worker, args=(k,)) for k in range(t)]
    t2 = time.time()
    for x in th:
        x.start()
    for x in th:
        x.join()
    qps = q / (time.time() - t2)
    lat.sort()
    print(f"{name}: upsert {n} x dim {DIM} in {up:.2f} s ({n / up:.0f} vectors/s); query (filtered, 1 client) "
          f"p50 {statistics.median(lat):.2f} ms p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms; "
          f"{t} clients {qps:.0f} queries/s", flush=True)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    q = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    t = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    root = tempfile.mkdtemp(prefix="qv_pcbench_")
    try:
        s = Single(root)
        try:
            run("single node", [s.url], n, q, t)
        finally:
            s.stop()
        c = Cluster(root)
        try:
            with open(os.path.join(c.dir, "cluster.env")) as f:
                kv = dict(ln.strip().partition("=")[::2] for ln in f if "=" in ln)
            run("3-node cluster", kv["PINECONE_URLS"].split(","), n, q, t)
        finally:
            c.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()

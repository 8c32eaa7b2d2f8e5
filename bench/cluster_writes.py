#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Write latency and throughput of a 3-node cluster (scripts/cluster-up.sh) on loopback.

    bench/cluster_writes.py --quiver build/quiver [--seconds 10] [--clients 1,6]

Starts scripts/cluster-up.sh with the given binary, creates a 3-shard collection, then for each
client count runs closed-loop `upsert`s of one 16-d record (default `applied` acks: a majority
of replicas applied it) for --seconds and prints ops/s and latency percentiles. Used for
bench/RESULTS.md (leader-only reads of the shard streams vs the ordered consumer)."""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = "/api/v2/tenants/default_tenant/databases/default_database/collections"


def call(url, path, body=None, timeout=15):
    data = json.dumps(body).encode() if body is not None else None
    rq = urllib.request.Request(url + path, data=data, method="POST" if data is not None else "GET",
                                headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(rq, timeout=timeout) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{path}: {e.code} {e.read()[:300]!r}") from None


def run(urls, cid, clients, seconds):
    lat, errors = [], [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(i):
        rnd = random.Random(i)
        url = urls[i % len(urls)]
        n = 0
        while time.monotonic() < stop:
            rid = f"w{i}-{n}"
            n += 1
            t0 = time.monotonic()
            try:
                call(url, f"{BASE}/{cid}/upsert", {"ids": [rid], "embeddings": [[rnd.random() for _ in range(16)]]})
            except Exception:  # noqa: BLE001 -- counted, the run goes on
                with lock:
                    errors[0] += 1
                continue
            with lock:
                lat.append(time.monotonic() - t0)

    th = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    lat.sort()
    pct = (lambda q: 1000 * lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (lambda q: float("nan"))
    return {"clients": clients, "ops": len(lat), "ops_per_s": len(lat) / seconds, "p50_ms": pct(0.5),
            "p90_ms": pct(0.9), "p99_ms": pct(0.99), "errors": errors[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quiver", default=os.path.join(ROOT, "build", "quiver"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", default="1,6")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="qv-cw-")
    env = dict(os.environ, QUIVER_BIN=os.path.abspath(a.quiver))
    up = subprocess.Popen([os.path.join(ROOT, "scripts", "cluster-up.sh"), d], stdout=subprocess.PIPE, text=True, env=env)
    try:
        urls = [up.stdout.readline().strip() for _ in range(3)]
        if not all(u.startswith("http://") for u in urls):
            sys.exit(f"cluster-up.sh did not start: {urls}")
        cid = call(urls[0], BASE, {"name": "cwbench", "metadata": {"quiver:shards": 3}})["id"]
        call(urls[0], f"{BASE}/{cid}/upsert", {"ids": ["warm"], "embeddings": [[0.0] * 16]})
        for c in [int(x) for x in a.clients.split(",")]:
            print(json.dumps(run(urls, cid, c, a.seconds)), flush=True)
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)


if __name__ == "__main__":
    main()

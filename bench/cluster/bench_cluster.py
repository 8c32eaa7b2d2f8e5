#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench_cluster.py URL [URL...] -- write and query latency/throughput through the Chroma v2 API
of a quiver node (single node or cluster), stdlib only.

  writes: --batches upserts of --batch records of --dim floats, one client, sequential,
          through the first URL; with --ack applied|log sent as X-Quiver-Ack (ignored by a
          single node)
  queries: --queries single-vector top-10 queries from --clients threads spread round-robin
          over the URLs
Prints one JSON line per phase.
"""
import argparse
import json
import os
import random
import threading
import time
import urllib.request

BASE = "/api/v2/tenants/default_tenant/databases/default_database"


def post(url, body, headers=None):
    h = {"content-type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=h)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read()


def cpu_of(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("urls", nargs="+")
    ap.add_argument("--name", default="bench")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--ack", default="applied")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--pids", default="", help="comma-separated server pids (quiver, nats): report their CPU "
                    "seconds per query (less noisy than wall time on a shared machine)")
    a = ap.parse_args()
    rng = random.Random(1)
    st, body = post(a.urls[0] + BASE + "/collections", {"name": a.name, "metadata": {"quiver:shards": a.shards}})
    cid = json.loads(body)["id"]
    lat = []
    t0 = time.time()
    for b in range(a.batches):
        ids = [f"r{b}_{i}" for i in range(a.batch)]
        embs = [[rng.uniform(-1, 1) for _ in range(a.dim)] for _ in ids]
        t = time.time()
        post(f"{a.urls[0]}{BASE}/collections/{cid}/upsert", {"ids": ids, "embeddings": embs}, {"X-Quiver-Ack": a.ack})
        lat.append(time.time() - t)
    wall = time.time() - t0
    print(json.dumps({"phase": "write", "ack": a.ack, "batches": a.batches, "batch": a.batch, "dim": a.dim,
                      "records_per_s": round(a.batches * a.batch / wall), "batch_p50_ms": round(pct(lat, .5) * 1e3, 1),
                      "batch_p99_ms": round(pct(lat, .99) * 1e3, 1)}))
    qs = [[rng.uniform(-1, 1) for _ in range(a.dim)] for _ in range(a.queries)]
    qlat, lock = [], threading.Lock()

    def worker(w):
        mine = []
        for i in range(w, a.queries, a.clients):
            u = a.urls[i % len(a.urls)]
            t = time.time()
            post(f"{u}{BASE}/collections/{cid}/query", {"query_embeddings": [qs[i]], "n_results": 10,
                                                        "include": ["distances"]})
            mine.append(time.time() - t)
        with lock:
            qlat.extend(mine)

    th = [threading.Thread(target=worker, args=(w,)) for w in range(a.clients)]
    pids = [int(p) for p in a.pids.split(",") if p]
    c0 = cpu_of(pids)
    t0 = time.time()
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.time() - t0
    cpu = cpu_of(pids) - c0
    print(json.dumps({"phase": "query", "clients": a.clients, "nodes": len(a.urls), "queries": a.queries,
                      "qps": round(a.queries / wall), "p50_ms": round(pct(qlat, .5) * 1e3, 2),
                      "p99_ms": round(pct(qlat, .99) * 1e3, 2),
                      "server_cpu_ms_per_query": round(cpu * 1e3 / a.queries, 3) if pids else None}))


if __name__ == "__main__":
    main()

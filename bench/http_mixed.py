#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench/http_mixed.py -- queries on a collection while another client writes to it.

  1. starts `quiver serve` (synchronous=FULL, the default) on a fresh data directory and
     ingests N random vectors (dim D) over HTTP, like bench/http_bench.py;
  2. for S seconds, one keep-alive client (bench/http/http_load.c) sends k=10 queries while
     another upserts batches of B new records, one request at a time;
  3. prints queries/s, query p50/p99 and writes/s as JSON.

Usage: /usr/bin/python3 bench/http_mixed.py [--n 20000] [--dim 128] [--batch 10]
       [--seconds 5] [--build build]
"""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as hb  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--batch", type=int, default=10, help="records per write request")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--build", default=os.path.join(hb.ROOT, "build"))
    a = ap.parse_args()
    a.fvecs, a.k, a.server_threads = None, 10, "0"
    rnd = random.Random(42)
    tmp = tempfile.mkdtemp(prefix="quiver-httpmixed-")
    load, _ = hb.build_tools(a.build, tmp)
    base, queries = hb.vectors(a, rnd)
    srv, port, c = hb.start_server(a, os.path.join(tmp, "data"), sync="full")
    try:
        a.batch, wbatch = 1000, a.batch
        cid, _ = hb.ingest(a, c, base)
        qfile = os.path.join(tmp, "q.jsonl")
        with open(qfile, "w") as f:
            for q in queries:
                f.write(json.dumps({"query_embeddings": [q], "n_results": a.k}) + "\n")
        path = f"{hb.BASE}/collections/{cid}"
        writes = []

        def writer():
            wc = http.client.HTTPConnection("127.0.0.1", port)
            wr = random.Random(7)
            n, end = 0, time.time() + a.seconds + 0.3
            while time.time() < end:
                ids = ["w%d" % (n + i) for i in range(wbatch)]
                n += wbatch
                body = json.dumps({"ids": ids, "embeddings": [[wr.gauss(0, 1) for _ in range(a.dim)]
                                                              for _ in ids]})
                t0 = time.time()
                wc.request("POST", path + "/upsert", body, {"Content-Type": "application/json"})
                r = wc.getresponse()
                r.read()
                assert r.status == 200, r.status
                writes.append(time.time() - t0)

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.2)
        h = json.loads(subprocess.check_output(
            [load, "127.0.0.1", str(port), path + "/query", qfile, "1", str(a.seconds)], text=True))
        t.join()
    finally:
        rc = hb.stop_server(srv)
    writes.sort()
    print(json.dumps({"n": a.n, "dim": a.dim, "write_batch": wbatch, "query_rps": h["rps"],
                      "query_p50_ms": h["p50_ms"], "query_p99_ms": h["p99_ms"],
                      "query_max_ms": h["max_ms"],
                      "query_errors": h["errors"], "writes_per_s": round(len(writes) / a.seconds, 1),
                      "write_p50_ms": round(writes[len(writes) // 2] * 1e3, 2), "server_exit": rc},
                     indent=1))
    subprocess.call(["rm", "-rf", tmp])
    return 0 if rc == 0 and h["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench/pinecone_bench.py -- query throughput through the Pinecone route vs the Chroma route,
on the same quiver collection, same server, same query vectors.

  1. starts `quiver serve --pinecone-port` on a fresh data directory (--sync normal);
  2. creates a Pinecone index (dim D, euclidean) and upserts N random vectors through the
     Pinecone data plane (batches of 500) into the default namespace: that namespace is the
     quiver collection "pinecone/bench/__default__", i.e. the Chroma collection "__default__"
     of tenant "pinecone", database "bench";
  3. alternates, --rounds times, S seconds of k=10 queries from 2 keep-alive connections
     (bench/http/http_load.c) on each route, the order flipping every round:
       pinecone  POST /data/bench/query  {"namespace":"__default__","topK":10,"vector":[...]}
                 (what the official client sends; the answer is ids and scores)
       chroma    POST .../collections/{id}/query  {"query_embeddings":[[...]],"n_results":10,
                 "include":["distances"]}   (ids and distances: the same content)
     and reports per-round ratios pinecone/chroma, their median and the ratio of the sums,
     plus the server's CPU time per request on each route (utime + stime of the server over
     each slice, /proc/PID/stat): on a shared, loaded machine requests/s swing with other
     processes, CPU per request much less.

Bounded: defaults N=20000, D=128, 11 rounds of 2 s per side; everything on 127.0.0.1.
Usage: /usr/bin/python3 bench/pinecone_bench.py [--n N] [--dim D] [--seconds S] [--rounds R]
       [--build build] [--server-threads 0]
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def req(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Content-Type": "application/json", "Api-Key": "bench"})
    r = c.getresponse()
    data = r.read()
    c.close()
    assert r.status < 300, (r.status, data[:300])
    return json.loads(data) if data else None


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--server-threads", default="0")
    a = ap.parse_args()
    rnd = random.Random(42)
    tmp = tempfile.mkdtemp(prefix="quiver-pcbench-")
    load = os.path.join(tmp, "http_load")
    subprocess.check_call([os.environ.get("CC", "cc"), "-O2", "-pthread", "-o", load,
                           os.path.join(ROOT, "bench/http/http_load.c")])
    port, pc_port = free_port(), free_port()
    srv = subprocess.Popen([os.path.join(a.build, "quiver"), "serve", "--data", os.path.join(tmp, "data"),
                            "--port", str(port), "--pinecone-port", str(pc_port), "--log-level", "error",
                            "--sync", "normal", "--threads", a.server_threads], stderr=subprocess.DEVNULL)
    rc = None
    try:
        for _ in range(400):
            try:
                req(port, "GET", "/api/v2/heartbeat")
                break
            except OSError:
                time.sleep(0.05)
        req(pc_port, "POST", "/indexes", {"name": "bench", "dimension": a.dim, "metric": "euclidean",
                                          "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}})
        t0 = time.time()
        for s in range(0, a.n, 500):
            rows = [{"id": str(i), "values": [rnd.gauss(0, 1) for _ in range(a.dim)]}
                    for i in range(s, min(a.n, s + 500))]
            req(pc_port, "POST", "/data/bench/vectors/upsert", {"vectors": rows, "namespace": "__default__"})
        ingest = a.n / (time.time() - t0)
        base = "/api/v2/tenants/pinecone/databases/bench/collections"
        cid = [c for c in req(port, "GET", base) if c["name"] == "__default__"][0]["id"]
        queries = [[rnd.gauss(0, 1) for _ in range(a.dim)] for _ in range(1000)]
        pfile, cfile = os.path.join(tmp, "p.jsonl"), os.path.join(tmp, "c.jsonl")
        with open(pfile, "w") as f:
            for q in queries:
                f.write(json.dumps({"namespace": "__default__", "topK": a.k, "vector": q}) + "\n")
        with open(cfile, "w") as f:
            for q in queries:
                f.write(json.dumps({"query_embeddings": [q], "n_results": a.k, "include": ["distances"]}) + "\n")
        # both routes answer the same neighbours
        p = req(pc_port, "POST", "/data/bench/query", {"namespace": "__default__", "topK": a.k, "vector": queries[0]})
        c = req(port, "POST", f"{base}/{cid}/query", {"query_embeddings": [queries[0]], "n_results": a.k,
                                                       "include": ["distances"]})
        assert [m["id"] for m in p["matches"]] == c["ids"][0], "routes disagree"

        tick = os.sysconf("SC_CLK_TCK")

        def cpu_seconds():
            with open(f"/proc/{srv.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

        def side(which, sec):
            if which == "pinecone":
                args = [load, "127.0.0.1", str(pc_port), "/data/bench/query", pfile]
            else:
                args = [load, "127.0.0.1", str(port), f"{base}/{cid}/query", cfile]
            c0 = cpu_seconds()
            out = json.loads(subprocess.check_output(args + [str(a.threads), str(sec)], text=True))
            out["cpu_us_per_req"] = round((cpu_seconds() - c0) * 1e6 / max(out["requests"], 1), 1)
            return out

        side("pinecone", 1), side("chroma", 1)  # warm-up
        rounds = []
        for i in range(a.rounds):
            order = ("pinecone", "chroma") if i % 2 == 0 else ("chroma", "pinecone")
            r = {w: side(w, a.seconds) for w in order}
            rounds.append({"pinecone_rps": r["pinecone"]["rps"], "chroma_rps": r["chroma"]["rps"],
                           "errors": r["pinecone"]["errors"] + r["chroma"]["errors"],
                           "pinecone_p50_ms": r["pinecone"]["p50_ms"], "chroma_p50_ms": r["chroma"]["p50_ms"],
                           "pinecone_p99_ms": r["pinecone"]["p99_ms"], "chroma_p99_ms": r["chroma"]["p99_ms"],
                           "pinecone_cpu_us": r["pinecone"]["cpu_us_per_req"],
                           "chroma_cpu_us": r["chroma"]["cpu_us_per_req"],
                           "ratio": round(r["pinecone"]["rps"] / r["chroma"]["rps"], 3)})
    finally:
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(120)
    res = {"n": a.n, "dim": a.dim, "k": a.k, "clients": a.threads, "server_threads": a.server_threads,
           "ingest_vectors_per_s_pinecone_upsert": round(ingest, 1), "rounds": rounds,
           "median_pinecone_rps": median([r["pinecone_rps"] for r in rounds]),
           "median_chroma_rps": median([r["chroma_rps"] for r in rounds]),
           "median_ratio": median([r["ratio"] for r in rounds]),
           "ratio_range": [min(r["ratio"] for r in rounds), max(r["ratio"] for r in rounds)],
           "ratio_of_sums": round(sum(r["pinecone_rps"] for r in rounds) / sum(r["chroma_rps"] for r in rounds), 3),
           # server CPU per request (utime + stime of the server process over each slice):
           # what throughput comes down to when the CPU is the limit, and far less sensitive
           # than requests/s to other load on a shared machine
           "median_pinecone_cpu_us_per_req": median([r["pinecone_cpu_us"] for r in rounds]),
           "median_chroma_cpu_us_per_req": median([r["chroma_cpu_us"] for r in rounds]),
           "cpu_ratio_pinecone_over_chroma": round(sum(r["pinecone_cpu_us"] for r in rounds) /
                                                   sum(r["chroma_cpu_us"] for r in rounds), 3),
           "median_p50_ms": [median([r["pinecone_p50_ms"] for r in rounds]),
                             median([r["chroma_p50_ms"] for r in rounds])],
           "server_exit": rc}
    print(json.dumps(res, indent=1))
    subprocess.call(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()

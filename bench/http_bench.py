#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench/http_bench.py -- HTTP server throughput on loopback, against the in-process baseline.

  1. starts `quiver serve` on a fresh data directory (--sync normal, access log off);
  2. ingests N random vectors (dim D) over HTTP with base64 embeddings, batches of B: rate;
  3. restarts the server (from its checkpoint) and opens the same data directory read-only
     in a second process (bench/http/inproc_query.c), both kept warm;
  4. alternates, --rounds times, S seconds of k=10 HNSW queries from 2 keep-alive
     connections (bench/http/http_load.c) with S seconds of the same queries from 2
     in-process threads, and reports per-round ratios, their median and the ratio of the
     sums. Short alternating slices let the shared machine's noise hit both sides alike.
  5. each round also runs (unless --no-echo) the in-process queries followed by a loopback TCP
     round trip of the same sizes as the HTTP request and response to a separate echo
     process: the transport with no HTTP in it, i.e. the ceiling of any server on this
     machine (reported as ceiling_ratio, and the HTTP side against it as http_vs_ceiling).

With --fvecs DIR the vectors are real: the first N rows of DIR/base.fvecs and the first 1000
of DIR/query.fvecs (e.g. .data/fashion-mnist-784-euclidean after shared/data/prepare).

Bounded: defaults N=20000, D=128, 15 rounds of 2 s per side; everything on 127.0.0.1.
Usage: /usr/bin/python3 bench/http_bench.py [--n N] [--dim D] [--fvecs DIR] [--seconds S]
       [--rounds R] [--threads T] [--build build] [--server-threads 0] [--no-echo]
"""
import argparse
import base64
import http.client
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = "/api/v2/tenants/default_tenant/databases/default_database"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_tools(build, out):
    cc = os.environ.get("CC", "cc")
    load = os.path.join(out, "http_load")
    inproc = os.path.join(out, "inproc_query")
    subprocess.check_call([cc, "-O2", "-pthread", "-o", load,
                           os.path.join(ROOT, "bench/http/http_load.c")])
    libs = subprocess.check_output(["pkg-config", "--libs", "sqlite3", "jansson", "openblas", "zlib"],
                                   text=True).split()
    subprocess.check_call([cc, "-O2", "-pthread", "-I" + os.path.join(ROOT, "include"), "-o", inproc,
                           os.path.join(ROOT, "bench/http/inproc_query.c"),
                           os.path.join(build, "libquiver.a"), *libs, "-lm"])
    return load, inproc


def b64(vec):
    return base64.b64encode(struct.pack("<%df" % len(vec), *vec)).decode()


def start_server(a, data, sync="normal"):
    """`quiver serve` on a free port, once it answers; (process, port, keep-alive connection)."""
    port = free_port()
    srv = subprocess.Popen([os.path.join(a.build, "quiver"), "serve", "--data", data, "--port", str(port),
                            "--log-level", "warn", "--sync", sync, "--threads", a.server_threads],
                           stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port)
            c.request("GET", "/api/v2/heartbeat")
            c.getresponse().read()
            return srv, port, c
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def stop_server(srv):
    srv.send_signal(signal.SIGTERM)
    return srv.wait(120)


def read_fvecs(path, limit):
    """The first limit rows of a TEXMEX .fvecs file, as lists of floats."""
    rows = []
    with open(path, "rb") as f:
        while len(rows) < limit:
            head = f.read(4)
            if len(head) < 4:
                break
            d = struct.unpack("<i", head)[0]
            rows.append(list(struct.unpack("<%df" % d, f.read(4 * d))))
    return rows


def vectors(a, rnd):
    """(base rows, 1000 query rows): real ones from --fvecs, else standard normal."""
    if a.fvecs:
        base = read_fvecs(os.path.join(a.fvecs, "base.fvecs"), a.n)
        queries = read_fvecs(os.path.join(a.fvecs, "query.fvecs"), 1000)
        a.n, a.dim = len(base), len(base[0])
        return base, queries
    base = [[rnd.gauss(0, 1) for _ in range(a.dim)] for _ in range(a.n)]
    return base, [[rnd.gauss(0, 1) for _ in range(a.dim)] for _ in range(1000)]


def ingest(a, c, base):
    c.request("POST", BASE + "/collections", json.dumps({"name": "bench"}),
              {"Content-Type": "application/json"})
    cid = json.loads(c.getresponse().read())["id"]
    bodies = []
    for s in range(0, a.n, a.batch):
        rows = base[s:s + a.batch]
        bodies.append(json.dumps({"ids": [str(s + i) for i in range(len(rows))],
                                  "embeddings": [b64(r) for r in rows]}))
    t0 = time.time()
    for body in bodies:
        c.request("POST", f"{BASE}/collections/{cid}/add", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status == 201, r.status
    return cid, a.n / (time.time() - t0)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--fvecs", help="directory with base.fvecs and query.fvecs (real vectors)")
    ap.add_argument("--seconds", type=float, default=2, help="per round and side")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--server-threads", default="0")
    ap.add_argument("--no-echo", dest="echo", action="store_false",
                    help="skip the third side (in-process queries + a bare loopback TCP round trip each)")
    a = ap.parse_args()
    rnd = random.Random(42)
    tmp = tempfile.mkdtemp(prefix="quiver-httpbench-")
    load, inproc = build_tools(a.build, tmp)
    data = os.path.join(tmp, "data")
    base, queries = vectors(a, rnd)
    srv, port, c = start_server(a, data)
    try:
        cid, rate = ingest(a, c, base)
    finally:
        rc = stop_server(srv)
    del base
    qfile, ffile = os.path.join(tmp, "q.jsonl"), os.path.join(tmp, "q.f32")
    with open(qfile, "w") as f:
        for q in queries:
            f.write(json.dumps({"query_embeddings": [q], "n_results": a.k,
                                "include": ["metadatas", "documents", "distances"]}) + "\n")
    with open(ffile, "wb") as f:
        for q in queries:
            f.write(struct.pack("<%df" % a.dim, *q))
    # one server and one in-process reader, both kept warm; measurements alternate in short
    # slices so that the machine's noise (a shared VM) hits both sides alike
    srv, port, c = start_server(a, data)
    # the echo round trip carries what an HTTP query carries: the request (headers as
    # http_load sends them, the mean body) and the response of the first query
    c.request("POST", f"{BASE}/collections/{cid}/query", open(qfile).readline(),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    resp_bytes = len(r.read()) + sum(len(k) + len(v) + 4 for k, v in r.getheaders()) + 19
    body_bytes = os.path.getsize(qfile) // len(queries)
    req_bytes = body_bytes + len(f"POST {BASE}/collections/{cid}/query HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 "Content-Type: application/json\r\nContent-Length: 0000\r\n\r\n")
    inp = subprocess.Popen([inproc, data, "default_tenant/default_database/bench", ffile, str(a.dim),
                            str(a.k), str(a.threads), "-", str(req_bytes), str(resp_bytes)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def http_side(sec):
        return json.loads(subprocess.check_output(
            [load, "127.0.0.1", str(port), f"{BASE}/collections/{cid}/query", qfile,
             str(a.threads), str(sec)], text=True))

    def inproc_side(sec, echo=False):
        inp.stdin.write("%g%s\n" % (sec, " echo" if echo else ""))
        inp.stdin.flush()
        return json.loads(inp.stdout.readline())

    rounds = []
    try:
        http_side(1), inproc_side(1)  # warm-up, not counted
        for i in range(a.rounds):
            if i % 2:  # alternate which side goes first
                iq, h = inproc_side(a.seconds), http_side(a.seconds)
            else:
                h, iq = http_side(a.seconds), inproc_side(a.seconds)
            rounds.append({"http_rps": h["rps"], "http_errors": h["errors"], "p50_ms": h["p50_ms"],
                           "p99_ms": h["p99_ms"], "inproc_qps": iq["qps"],
                           "ratio": round(h["rps"] / iq["qps"], 3)})
            if a.echo:
                e = inproc_side(a.seconds, echo=True)["qps"]
                rounds[-1].update(echo_qps=e, ceiling_ratio=round(e / iq["qps"], 3),
                                  http_vs_ceiling=round(h["rps"] / e, 3))
    finally:
        inp.stdin.close()
        inp.wait(60)
        rc |= stop_server(srv)
    res = {"data": a.fvecs or "normal", "n": a.n, "dim": a.dim, "k": a.k, "clients": a.threads, "server_threads": a.server_threads,
           "ingest_vectors_per_s": round(rate, 1), "rounds": rounds,
           "median_http_rps": median([r["http_rps"] for r in rounds]),
           "median_inproc_qps": median([r["inproc_qps"] for r in rounds]),
           "median_ratio": median([r["ratio"] for r in rounds]),
           "ratio_range": [min(r["ratio"] for r in rounds), max(r["ratio"] for r in rounds)],
           "ratio_of_sums": round(sum(r["http_rps"] for r in rounds) /
                                  sum(r["inproc_qps"] for r in rounds), 3),
           "server_exit": rc}
    if a.echo:
        res.update({"echo_request_bytes": req_bytes, "echo_response_bytes": resp_bytes,
                    "median_ceiling_ratio": median([r["ceiling_ratio"] for r in rounds]),
                    "median_http_vs_ceiling": median([r["http_vs_ceiling"] for r in rounds])})
    print(json.dumps(res, indent=1))
    if not os.environ.get("QUIVER_BENCH_KEEP"): subprocess.call(["rm", "-rf", tmp])
    return 0 if rc == 0 and all(r["http_errors"] == 0 for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())

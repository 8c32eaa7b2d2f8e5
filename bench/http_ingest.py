#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench/http_ingest.py -- Chroma-API ingest with JSON float embeddings: quiver against the
reference Chroma server (issue 10: quiver >= 2x), same data, same client, same bodies.

  * the rows are Fashion-MNIST (DIR/base.fvecs, 784-d) or random normal (--dim);
  * every request body is encoded once before timing ({"ids": [...], "embeddings": [[...]],
    "metadatas": null, "documents": null, "uris": null}, json.dumps of Python floats, what
    the official Python client sends for float embeddings) and the same bytes go to both
    servers, one keep-alive client (http.client), batches of --batch rows;
  * rounds alternate the servers (the first side alternating too): each round creates a fresh
    collection with Chroma's default configuration (hnsw, l2) on both, times the ingest of
    --rows rows on each, and deletes the collections. Per-round rates, their medians and the
    ratio of the sums are printed as JSON.

quiver: `quiver serve` on a fresh data directory with its defaults (--sync full: a batch is
acknowledged once fsync'd), started by this script. Chroma: an already running server
(`../shared/tools/chroma-reference start PORT`), given as --chroma-port.

Usage: /usr/bin/python3 bench/http_ingest.py --build build --fvecs DIR --chroma-port 8765
       [--rows 10000] [--batch 500] [--rounds 5] [--sync full] [--only quiver]
"""
import argparse, http.client, json, os, shutil, socket, statistics, struct, subprocess, sys, tempfile, time, random

BASE = "/api/v2/tenants/default_tenant/databases/default_database"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_fvecs(path, limit):
    out = []
    with open(path, "rb") as f:
        while len(out) < limit:
            h = f.read(4)
            if not h:
                break
            d = struct.unpack("<i", h)[0]
            out.append(list(struct.unpack("<%df" % d, f.read(4 * d))))
    return out


def req(conn, method, path, body=None):
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None


def ingest(port, bodies, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    col = req(conn, "POST", BASE + "/collections", json.dumps({"name": name}))
    cid = col["id"]
    t0 = time.perf_counter()
    for b in bodies:
        req(conn, "POST", f"{BASE}/collections/{cid}/add", b)
    dt = time.perf_counter() - t0
    n = req(conn, "GET", f"{BASE}/collections/{cid}/count")
    req(conn, "DELETE", f"{BASE}/collections/{name}")
    conn.close()
    return dt, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--fvecs")
    ap.add_argument("--dim", type=int, default=784)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sync", default="full")
    ap.add_argument("--chroma-port", type=int)
    ap.add_argument("--only", choices=["quiver", "chroma"])
    ap.add_argument("--prefix", default="", help="command words put before quiver's, e.g. 'valgrind "
                    "--tool=callgrind --callgrind-out-file=FILE' (instruction counts, robust to machine load)")
    a = ap.parse_args()
    if a.fvecs:
        rows = read_fvecs(os.path.join(a.fvecs, "base.fvecs"), a.rows)
    else:
        rnd = random.Random(1)
        rows = [[rnd.gauss(0, 1) for _ in range(a.dim)] for _ in range(a.rows)]
    bodies = []
    for i in range(0, len(rows), a.batch):
        chunk = rows[i:i + a.batch]
        bodies.append(json.dumps({"ids": [str(i + j) for j in range(len(chunk))], "embeddings": chunk,
                                  "metadatas": None, "documents": None, "uris": None}).encode())
    mb = sum(len(b) for b in bodies) / 1e6
    sides = []
    srv = None
    if a.only != "chroma":
        data = tempfile.mkdtemp(prefix="qv_ingest_")
        qport = free_port()
        srv = subprocess.Popen(a.prefix.split() + [os.path.join(a.build, "quiver"), "serve", "--data", data, "--port", str(qport),
                                "--log-level", "warn", "--sync", a.sync])
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", qport, timeout=5)
                req(c, "GET", "/api/v2/heartbeat")
                c.close()
                break
            except Exception:
                time.sleep(0.05)
        sides.append(("quiver", qport))
    if a.only != "quiver":
        if not a.chroma_port:
            sys.exit("--chroma-port: start ../shared/tools/chroma-reference start PORT first")
        sides.append(("chroma", a.chroma_port))
    rates = {s: [] for s, _ in sides}
    secs = {s: 0.0 for s, _ in sides}
    try:
        for r in range(a.rounds):
            order = sides if r % 2 == 0 else sides[::-1]
            for s, port in order:
                dt, n = ingest(port, bodies, f"ingest_{r}_{s}")
                if n != len(rows):
                    raise RuntimeError(f"{s}: count {n} after adding {len(rows)}")
                rates[s].append(len(rows) / dt)
                secs[s] += dt
                print(f"round {r} {s}: {len(rows) / dt:.0f} vectors/s", file=sys.stderr, flush=True)
    finally:
        if srv:
            srv.terminate()
            srv.wait()
            shutil.rmtree(data, ignore_errors=True)
    out = {"rows": len(rows), "dim": len(rows[0]), "batch": a.batch, "body_MB": round(mb, 1), "rounds": a.rounds,
           "sync": a.sync}
    for s in rates:
        out[s] = {"median_vps": round(statistics.median(rates[s])), "vps": [round(x) for x in rates[s]],
                  "sum_vps": round(len(rows) * a.rounds / secs[s])}
    if "quiver" in rates and "chroma" in rates:
        out["ratio_of_sums"] = round(out["quiver"]["sum_vps"] / out["chroma"]["sum_vps"], 2)
        out["median_ratio"] = round(statistics.median(q / c for q, c in zip(rates["quiver"], rates["chroma"])), 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

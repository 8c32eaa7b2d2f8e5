#!/usr/bin/env python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
scripts/soak.py -- a bounded mixed-load soak of `quiver serve` on loopback (issue 15).

One client drives a server it starts itself (a free port on 127.0.0.1, a fresh data
directory) with a random mix of queries, gets, adds, upserts, updates, deletes,
compactions and collection create/drop, for --duration seconds. Every write is mirrored in
an in-memory reference model. It fails (exit 1) when:

  * any response is a 5xx, or any request gets a status the model does not expect;
  * a query returns an id that is not live, a distance that does not match the model's
    vector for that id, or (flat collections, exact) not the model's k nearest distances;
  * the final contents (ids, embeddings, metadata, documents, collection list) differ from
    the model, checked before and after a SIGTERM restart;
  * the server's resident memory (VmRSS, sampled every --rss-interval s) grows by more than
    --rss-limit-mb between the start and the end of the post-warm-up window.

The data is bounded (--collections collections of at most --max-records records each), so
the RSS of a server that does not leak stays flat once warm.

Usage:
  scripts/soak.py --duration 3600                  # the documented one-hour soak
  scripts/soak.py --duration 25 --json out.json    # the CI version (tests/server/test_soak.py)
Binary: --bin or $QUIVER_BIN (default build/quiver). Only the standard library is used.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T, D = "default_tenant", "default_database"
BASE = f"/api/v2/tenants/{T}/databases/{D}"


class SoakFailure(Exception):
    pass


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SoakFailure(f"no VmRSS for pid {pid}")


class Server:
    def __init__(self, binary, data, log_path):
        self.binary, self.data, self.port = binary, data, free_port()
        self.log = open(log_path, "a+")
        env = dict(os.environ)
        env.pop("QUIVER_TOKEN", None)
        env.pop("CHROMA_SERVER_AUTHN_CREDENTIALS", None)
        self.proc = subprocess.Popen(
            [binary, "serve", "--data", data, "--port", str(self.port), "--log-level", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        end = time.time() + 30
        while time.time() < end:
            if self.proc.poll() is not None:
                raise SoakFailure("server exited at start-up: " + self.tail())
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/api/v2/heartbeat")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise SoakFailure("server did not start: " + self.tail())

    def tail(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise SoakFailure("server did not stop within 60 s of SIGTERM")
        rc = self.proc.returncode
        self.log.close()
        return rc


class Client:
    def __init__(self, port, stats):
        self.port, self.stats = port, stats
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def req(self, method, path, body=None, expect=(200,)):
        data = json.dumps(body).encode() if body is not None else None
        hdr = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=hdr)
                r = self.conn.getresponse()
                text = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        self.stats["requests"] += 1
        if r.status >= 500:
            self.stats["5xx"] += 1
            raise SoakFailure(f"{method} {path}: {r.status} {text[:300]!r}")
        if r.status not in expect:
            raise SoakFailure(f"{method} {path}: status {r.status}, expected {expect}: {text[:300]!r}")
        return json.loads(text) if text else None


def dist_l2(a, b):
    return sum((x - y) * (x - y) for x, y in zip(a, b))


class Soak:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.model = {}      # name -> {"id": uuid, "kind": str, "recs": {id: (vec, meta, doc)}}
        self.serial = 0      # collection name counter
        self.stats = {"requests": 0, "5xx": 0}
        self.ops = {}
        self.rss = []        # (t, kib)

    # ---- helpers --------------------------------------------------------------------------
    def vec(self):
        return [f32(self.rng.uniform(-1.0, 1.0)) for _ in range(self.a.dim)]

    def rid(self):
        return "r%d" % self.rng.randrange(int(self.a.max_records * 1.5))

    def count(self, op):
        self.ops[op] = self.ops.get(op, 0) + 1

    def pick(self):
        return self.model[self.rng.choice(sorted(self.model))]

    def path(self, c, tail):
        return f"{BASE}/collections/{c['id']}/{tail}"

    def batch_ids(self, n):
        ids = set()
        while len(ids) < n:
            ids.add(self.rid())
        return sorted(ids)

    # ---- operations -----------------------------------------------------------------------
    def create(self):
        kinds = self.a.kinds.split(",")
        name = "soak-%d" % self.serial
        kind = kinds[self.serial % len(kinds)]
        self.serial += 1
        body = {"name": name, "configuration": {"index": kind, "hnsw": {"space": "l2"}}}
        b = self.cl.req("POST", BASE + "/collections", body)
        self.model[name] = {"id": b["id"], "kind": kind, "recs": {}}
        self.count("create")

    def drop(self):
        name = self.rng.choice(sorted(self.model))
        self.cl.req("DELETE", f"{BASE}/collections/{name}")
        del self.model[name]
        self.count("drop")

    def write(self, op, c):
        recs = c["recs"]
        n = self.rng.randint(1, self.a.batch)
        if op in ("add", "upsert") and len(recs) + n > self.a.max_records:
            op = "delete"
        ids = self.batch_ids(n)
        if op == "delete":
            if self.rng.random() < 0.7 and recs:  # mostly live ids, some missing ones
                ids = sorted(self.rng.sample(sorted(recs), min(n, len(recs))))
            self.cl.req("POST", self.path(c, "delete"), {"ids": ids})
            for i in ids:
                recs.pop(i, None)
            self.count("delete")
            return
        vecs = [self.vec() for _ in ids]
        metas = [{"k": self.rng.randrange(1000), "tag": self.rng.choice("abc"), "op": op} for _ in ids]
        docs = ["%s doc %s %d" % (op, i, self.rng.randrange(10 ** 6)) for i in ids]
        body = {"ids": ids, "embeddings": vecs, "metadatas": metas, "documents": docs}
        if op == "add":
            self.cl.req("POST", self.path(c, "add"), body, expect=(201,))
            for i, v, m, d in zip(ids, vecs, metas, docs):
                recs.setdefault(i, (v, m, d))  # add of an existing id is a no-op (Chroma)
        elif op == "upsert":
            self.cl.req("POST", self.path(c, "upsert"), body)
            for i, v, m, d in zip(ids, vecs, metas, docs):
                recs[i] = (v, m, d)
        else:  # update: missing ids are ignored (Chroma)
            if self.rng.random() < 0.5 and recs:
                ids = sorted(self.rng.sample(sorted(recs), min(n, len(recs))))
                body = {"ids": ids, "embeddings": vecs[:len(ids)], "metadatas": metas[:len(ids)],
                        "documents": docs[:len(ids)]}
            self.cl.req("POST", self.path(c, "update"), body)
            for i, v, m, d in zip(body["ids"], body["embeddings"], body["metadatas"], body["documents"]):
                if i in recs:
                    recs[i] = (v, m, d)
        self.count(op)

    def query(self, c):
        recs = c["recs"]
        k = self.rng.randint(1, 20)
        q = self.vec()
        r = self.cl.req("POST", self.path(c, "query"),
                        {"query_embeddings": [q], "n_results": k, "include": ["distances"]})
        ids, dists = r["ids"][0], r["distances"][0]
        if len(ids) != len(dists) or len(set(ids)) != len(ids):
            raise SoakFailure(f"{c['kind']} query: malformed answer {r}")
        want = min(k, len(recs))
        if c["kind"] == "flat" and len(ids) != want:
            raise SoakFailure(f"flat query: {len(ids)} results, the model has {want}")
        if len(ids) > want:
            raise SoakFailure(f"{c['kind']} query: {len(ids)} results > {want}")
        for i, d in zip(ids, dists):
            if i not in recs:
                raise SoakFailure(f"{c['kind']} query returned {i!r}, which is not live (stale)")
            ref = dist_l2(q, recs[i][0])
            if abs(ref - d) > 1e-3 * max(1.0, ref):
                raise SoakFailure(f"{c['kind']} query: {i!r} at {d}, the model's vector is at {ref}")
        if c["kind"] == "flat":
            best = sorted(dist_l2(q, v[0]) for v in recs.values())[:want]
            for got, ref in zip(dists, best):
                if abs(got - ref) > 1e-3 * max(1.0, ref):
                    raise SoakFailure(f"flat query: distances {dists} != the model's {best}")
        self.count("query")

    def get(self, c):
        recs = c["recs"]
        ids = self.batch_ids(self.rng.randint(1, 10))
        r = self.cl.req("POST", self.path(c, "get"),
                        {"ids": ids, "include": ["embeddings", "metadatas", "documents"]})
        got = set(r["ids"])
        if got != {i for i in ids if i in recs}:
            raise SoakFailure(f"get {ids}: {sorted(got)} != the model's live subset")
        self.check_rows(c, r)
        self.count("get")

    def check_rows(self, c, r):
        recs = c["recs"]
        for j, i in enumerate(r["ids"]):
            if i not in recs:
                raise SoakFailure(f"{c['kind']} get returned {i!r}, which the model does not hold")
            v, m, d = recs[i]
            if [f32(x) for x in r["embeddings"][j]] != v or r["metadatas"][j] != m or r["documents"][j] != d:
                raise SoakFailure(f"{c['kind']} record {i!r} differs from the model: "
                                  f"{r['embeddings'][j][:3]}… {r['metadatas'][j]} {r['documents'][j]!r}"
                                  f" vs {v[:3]}… {m} {d!r}")

    def compact(self, c):
        self.cl.req("POST", self.path(c, "compact"))
        self.count("compact")

    PROLOGUE = ("create", "add", "upsert", "update", "query", "get", "delete", "compact", "create", "drop")

    def step(self):
        n = sum(self.ops.values())
        if n < len(self.PROLOGUE):  # every kind of operation at least once, however short the run
            op = self.PROLOGUE[n]
            if op == "create":
                self.create()
            elif op == "drop":
                self.drop()
            elif op == "compact":
                self.compact(self.pick())
            elif op == "query":
                self.query(self.pick())
            elif op == "get":
                self.get(self.pick())
            else:
                self.write(op, self.pick())
            return
        if len(self.model) < 1:
            self.create()
            return
        x = self.rng.random()
        if x < 0.004 and len(self.model) < self.a.collections:
            self.create()
        elif x < 0.006 and len(self.model) > 1:
            self.drop()
        elif x < 0.016:
            self.compact(self.pick())
        elif x < 0.40:
            self.query(self.pick())
        elif x < 0.45:
            self.get(self.pick())
        elif x < 0.62:
            self.write("add", self.pick())
        elif x < 0.78:
            self.write("upsert", self.pick())
        elif x < 0.84:
            self.write("update", self.pick())
        else:
            self.write("delete", self.pick())

    # ---- final comparison -----------------------------------------------------------------
    def verify_all(self, when):
        lst = self.cl.req("GET", BASE + "/collections?limit=1000")
        names = {c["name"] for c in lst}
        if names != set(self.model):
            raise SoakFailure(f"{when}: collections {sorted(names)} != the model's {sorted(self.model)}")
        for name in sorted(self.model):
            c = self.model[name]
            seen = set()
            off = 0
            while True:
                r = self.cl.req("POST", self.path(c, "get"),
                                {"limit": 500, "offset": off,
                                 "include": ["embeddings", "metadatas", "documents"]})
                if not r["ids"]:
                    break
                self.check_rows(c, r)
                seen.update(r["ids"])
                off += len(r["ids"])
            if seen != set(c["recs"]):
                raise SoakFailure(f"{when}: {name} holds {len(seen)} ids, the model {len(c['recs'])}; "
                                  f"extra {sorted(seen - set(c['recs']))[:5]} "
                                  f"missing {sorted(set(c['recs']) - seen)[:5]}")
            n = self.cl.req("GET", self.path(c, "count"))
            if n != len(c["recs"]):
                raise SoakFailure(f"{when}: {name} count {n} != {len(c['recs'])}")
            for _ in range(5):
                if c["recs"]:
                    self.query(c)

    # ---- driver ---------------------------------------------------------------------------
    def sample_rss(self, t0):
        self.rss.append((round(time.time() - t0, 1), rss_kib(self.srv.proc.pid)))

    def run(self):
        a = self.a
        tmp = tempfile.mkdtemp(prefix="quiver-soak-")
        data = os.path.join(tmp, "data")
        log = os.path.join(tmp, "server.log")
        ok = False
        try:
            self.srv = Server(a.bin, data, log)
            self.cl = Client(self.srv.port, self.stats)
            t0 = time.time()
            next_rss = t0
            while time.time() - t0 < a.duration:
                if time.time() >= next_rss:
                    self.sample_rss(t0)
                    next_rss += a.rss_interval
                self.step()
            self.sample_rss(t0)
            elapsed = time.time() - t0
            self.verify_all("end of load")
            rc = self.srv.stop()
            if rc != 0:
                raise SoakFailure(f"server exit code {rc} after SIGTERM: {self.srv.tail()}")
            self.srv = Server(a.bin, data, log)
            self.cl = Client(self.srv.port, self.stats)
            self.verify_all("after restart")
            if self.srv.stop() != 0:
                raise SoakFailure("server exit code after the second SIGTERM is not 0")
            ok = True
        finally:
            if not ok and hasattr(self, "srv") and self.srv.proc.poll() is None:
                self.srv.proc.kill()
                self.srv.proc.wait()
            if a.keep:
                print(f"soak: data and server log kept in {tmp}", file=sys.stderr)
            else:
                if not ok and os.path.exists(log):
                    with open(log) as f:
                        tail = f.read()[-2000:]
                    if tail.strip():
                        print("soak: server log (end):\n" + tail, file=sys.stderr)
                shutil.rmtree(tmp, ignore_errors=True)
        return self.report(elapsed)

    def report(self, elapsed):
        a = self.a
        warm = a.warmup if a.warmup is not None else min(300.0, a.duration * 0.2)
        post = [(t, k) for t, k in self.rss if t >= warm]
        if len(post) < 4:
            raise SoakFailure(f"only {len(post)} RSS samples after warm-up: lower --rss-interval")
        q = max(1, len(post) // 4)
        base = max(k for _, k in post[:q])
        end = max(k for _, k in post[-q:])
        growth_mb = (end - base) / 1024.0
        n = len(post)
        mt = sum(t for t, _ in post) / n
        mk = sum(k for _, k in post) / n
        var = sum((t - mt) ** 2 for t, _ in post)
        slope = sum((t - mt) * (k - mk) for t, k in post) / var if var else 0.0  # KiB/s
        res = {
            "duration_s": round(elapsed, 1), "warmup_s": warm, "seed": a.seed, "dim": a.dim,
            "kinds": a.kinds, "requests": self.stats["requests"],
            "requests_per_s": round(self.stats["requests"] / elapsed, 1),
            "5xx": self.stats["5xx"], "ops": self.ops,
            "collections_at_end": len(self.model),
            "records_at_end": sum(len(c["recs"]) for c in self.model.values()),
            "rss_mb": {"first": round(self.rss[0][1] / 1024, 1),
                       "after_warmup_first_quarter_max": round(base / 1024, 1),
                       "after_warmup_last_quarter_max": round(end / 1024, 1),
                       "after_warmup_min": round(min(k for _, k in post) / 1024, 1),
                       "after_warmup_max": round(max(k for _, k in post) / 1024, 1),
                       "growth_mb": round(growth_mb, 2),
                       "slope_mb_per_hour": round(slope * 3600 / 1024, 2),
                       "samples": len(self.rss)},
        }
        if a.json:
            with open(a.json, "w") as f:
                json.dump({**res, "rss_samples": self.rss}, f, indent=1)
        print(json.dumps(res, indent=1))
        if growth_mb > a.rss_limit_mb:
            raise SoakFailure(f"RSS grew by {growth_mb:.1f} MB after warm-up (limit {a.rss_limit_mb} MB)")
        return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.environ.get("QUIVER_BIN", os.path.join(ROOT, "build", "quiver")))
    p.add_argument("--duration", type=float, default=3600.0, help="seconds of load (default 3600)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds excluded from the RSS check (default: 20%% of --duration, at most 300)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--collections", type=int, default=4, help="at most this many collections")
    p.add_argument("--max-records", type=int, default=4000, help="records per collection, at most")
    p.add_argument("--batch", type=int, default=48, help="largest write batch")
    p.add_argument("--kinds", default="hnsw,flat", help="index kinds, cycled over created collections")
    p.add_argument("--rss-interval", type=float, default=5.0)
    p.add_argument("--rss-limit-mb", type=float, default=24.0,
                   help="largest allowed RSS growth after warm-up (default 24 MB)")
    p.add_argument("--json", help="write the summary and every RSS sample here")
    p.add_argument("--keep", action="store_true", help="keep the data directory and server log (printed)")
    a = p.parse_args(argv)
    if not os.path.exists(a.bin):
        print(f"soak: {a.bin} not built", file=sys.stderr)
        return 1
    if a.duration <= 0 or a.rss_interval <= 0 or a.collections < 1 or a.max_records < a.batch:
        print("soak: bad option (duration, rss-interval > 0; collections >= 1; max-records >= batch)",
              file=sys.stderr)
        return 2
    try:
        Soak(a).run()
    except SoakFailure as e:
        print(f"soak: FAILED: {e}", file=sys.stderr)
        return 1
    print("soak: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cluster/test_cluster.py -- a real 3-server NATS JetStream cluster and 3 quiver nodes
started by the project's own scripts/cluster-up.sh (loopback only), driven over HTTP with
the Chroma v2 API (stdlib only: the Chroma Python client is not packaged in Debian).

What is checked: the catalog is shared (create on one node, use on the others); add / upsert /
update / delete / get / count / query with filters across shards, query answers equal to a
brute-force top-k; bad input refused before publishing with the field and batch position
named; read-your-writes through the write token across nodes; the per-shard metrics and
`quiver cluster status`; a node stopped and restarted resumes after its applied stream
sequence and converges; kill -9 of a node leaves the cluster serving reads and writes.

Needs nats-server (Debian's nats-server, scripts/install-deps.sh): without it the suite FAILS.
The binary is $QUIVER_BIN (default build/quiver). Every wait is bounded.
Run: /usr/bin/python3 -m pytest -q tests/cluster
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("QUIVER_BIN", os.path.join(ROOT, "build", "quiver"))
SCRIPT = os.path.join(ROOT, "scripts", "cluster-up.sh")
BASE = "/api/v2/tenants/default_tenant/databases/default_database"

if not os.path.exists(BIN):
    pytest.fail(f"{BIN} not built (build it, or point QUIVER_BIN at the binary)", pytrace=False)
if not shutil.which("nats-server"):
    pytest.fail("nats-server not found: the cluster tests need it (apt-get install nats-server, "
                "scripts/install-deps.sh)", pytrace=False)


def call(url, method="GET", body=None, headers=None, timeout=30):
    """(status, parsed JSON body, response headers)."""
    data = json.dumps(body).encode() if body is not None else None
    h = {"content-type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None, dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw), dict(e.headers)
        except ValueError:
            return e.code, raw.decode(errors="replace"), dict(e.headers)


class Cluster:
    def __init__(self, root):
        self.dir = os.path.join(root, "cluster")
        env = dict(os.environ, QUIVER_BIN=BIN, QV_CLUSTER_START_TIMEOUT="90")
        self.err = open(os.path.join(root, "cluster-up.err"), "w+")
        self.proc = subprocess.Popen([SCRIPT, self.dir], stdout=subprocess.PIPE, stderr=self.err, env=env, text=True)
        self.urls = []
        end = time.time() + 100
        while len(self.urls) < 3:
            line = self.proc.stdout.readline()
            if not line:
                self.err.seek(0)
                raise RuntimeError("cluster-up.sh ended before printing 3 URLs: " + self.err.read())
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+\n", line), f"unexpected output line {line!r}"
            self.urls.append(line.strip())
            assert time.time() < end, "cluster not ready in time"
        env_file = {}
        with open(os.path.join(self.dir, "cluster.env")) as f:
            for ln in f:
                k, _, v = ln.strip().partition("=")
                env_file[k] = v.strip('"')
        self.nats = env_file["NATS_URLS"]
        self.pids = [int(p) for p in env_file["QUIVER_PIDS"].split()]
        self.extra = []  # nodes restarted by the tests (not children of the script)

    def cmdline(self, i):
        with open(f"/proc/{self.pids[i]}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]

    def restart(self, i, args):
        log = open(os.path.join(self.dir, f"node{i + 1}-restart.log"), "a")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.extra.append(p)
        self.pids[i] = p.pid
        end = time.time() + 60
        while time.time() < end:
            assert p.poll() is None, "restarted node exited: " + open(log.name).read()
            try:
                st, doc, _ = call(self.urls[i] + "/api/v2/cluster", timeout=5)
                if st == 200:
                    return p
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("restarted node not ready in 60 s")

    def stop(self):
        for p in self.extra:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.extra:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return rc


@pytest.fixture(scope="module")
def cluster():
    root = tempfile.mkdtemp(prefix="qv_cluster_")
    c = Cluster(root)
    try:
        yield c
    finally:
        rc = c.stop()
        assert rc == 0, f"cluster-up.sh exited {rc} on SIGTERM"
        shutil.rmtree(root, ignore_errors=True)


def make_collection(c, name, node=0, **meta):
    st, obj, _ = call(c.urls[node] + BASE + "/collections", "POST", {"name": name, "metadata": meta or None})
    assert st == 200, obj
    return obj["id"]


def coll_url(c, node, cid):
    return f"{c.urls[node]}{BASE}/collections/{cid}"


def brute_topk(recs, q, k, where=None):
    cand = [(sum((a - b) ** 2 for a, b in zip(v, q)), i) for i, (v, m) in recs.items() if where is None or where(m)]
    cand.sort()
    return [i for _, i in cand[:k]]


def test_script_output_and_status(cluster):
    assert len(set(cluster.urls)) == 3
    for u in cluster.urls:
        st, body, _ = call(u + "/api/v2/heartbeat")
        assert st == 200
    out = subprocess.run([BIN, "cluster", "status", "--cluster", cluster.nats, "--json"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert sorted(n["id"] for n in doc["nodes"]) == ["node1", "node2", "node3"]
    assert all(n["live"] for n in doc["nodes"])


def test_crud_filters_and_query_across_shards(cluster):
    S = {"X-Quiver-Consistency": "strong"}
    cid = make_collection(cluster, "crud1", **{"quiver:shards": 4})
    # the catalog is shared: every node knows the collection by name
    for i in range(3):
        st, obj, _ = call(cluster.urls[i] + BASE + "/collections/crud1")
        assert st == 200 and obj["id"] == cid
    rng = random.Random(7)
    recs = {}
    ids = [f"id{i}" for i in range(300)]
    embs = [[rng.uniform(-1, 1) for _ in range(8)] for _ in ids]
    metas = [{"g": i % 5, "even": i % 2 == 0} for i in range(300)]
    for lo in range(0, 300, 100):  # writes through node 2, in three batches
        st, body, hdr = call(coll_url(cluster, 1, cid) + "/add", "POST",
                             {"ids": ids[lo:lo + 100], "embeddings": embs[lo:lo + 100],
                              "metadatas": metas[lo:lo + 100], "documents": [f"doc {i}" for i in ids[lo:lo + 100]]})
        assert st == 201, body
        assert re.fullmatch(r"\d+:\d+(,\d+:\d+)*", hdr.get("X-Quiver-Token", "")), hdr
    for i, e, m in zip(ids, embs, metas):
        recs[i] = (e, m)
    # reads through other nodes than the writer's ask for strong consistency: every
    # acknowledged write is seen without carrying the tokens (the token is tested below)
    st, n, _ = call(coll_url(cluster, 2, cid) + "/count", headers=S)
    assert st == 200 and n == 300
    st, got, _ = call(coll_url(cluster, 2, cid) + "/get", "POST", {"ids": ["id5", "id250", "nope", "id1"]}, headers=S)
    assert st == 200 and got["ids"] == ["id5", "id250", "id1"]
    assert got["documents"] == ["doc id5", "doc id250", "doc id1"]
    st, got, _ = call(coll_url(cluster, 0, cid) + "/get", "POST", {"where": {"g": 3}, "include": ["metadatas"]}, headers=S)
    assert st == 200 and sorted(got["ids"]) == sorted(i for i in ids if recs[i][1]["g"] == 3)
    st, got, _ = call(coll_url(cluster, 0, cid) + "/get", "POST", {"limit": 7, "offset": 5}, headers=S)
    assert st == 200 and len(got["ids"]) == 7
    # query: merged top-k equals brute force, with and without a filter
    for _ in range(5):
        q = [rng.uniform(-1, 1) for _ in range(8)]
        st, res, _ = call(coll_url(cluster, 0, cid) + "/query", "POST", {"query_embeddings": [q, q], "n_results": 10}, headers=S)
        assert st == 200, res
        assert res["ids"][0] == brute_topk(recs, q, 10) and res["ids"][1] == res["ids"][0]
        assert res["distances"][0] == sorted(res["distances"][0])
        st, res, _ = call(coll_url(cluster, 2, cid) + "/query", "POST",
                          {"query_embeddings": [q], "n_results": 5, "where": {"even": True},
                           "include": ["metadatas"]}, headers=S)
        assert st == 200 and res["ids"][0] == brute_topk(recs, q, 5, lambda m: m["even"])
        assert res["distances"] is None and all(m["even"] for m in res["metadatas"][0])
    # upsert (new and existing), update, delete by ids and by filter
    st, body, _ = call(coll_url(cluster, 2, cid) + "/upsert", "POST",
                       {"ids": ["id0", "new1"], "embeddings": [[0.0] * 8, [0.5] * 8],
                        "metadatas": [{"g": 9}, {"g": 9}]})
    assert st == 200, body
    st, body, _ = call(coll_url(cluster, 0, cid) + "/update", "POST", {"ids": ["id1"], "metadatas": [{"g": 9}]})
    assert st == 200, body
    st, got, _ = call(coll_url(cluster, 1, cid) + "/get", "POST", {"where": {"g": 9}}, headers=S)
    assert st == 200 and sorted(got["ids"]) == ["id0", "id1", "new1"]
    st, body, _ = call(coll_url(cluster, 1, cid) + "/delete", "POST", {"ids": ["id2", "id3"]})
    assert st == 200 and body == {"deleted": 2}
    st, body, hdr = call(coll_url(cluster, 1, cid) + "/delete", "POST", {"where": {"g": 4}})
    assert st == 200 and body == {"deleted": 60}, body
    tok = {"X-Quiver-Token": hdr["X-Quiver-Token"]}  # read-your-writes on another node
    st, n, _ = call(coll_url(cluster, 0, cid) + "/count", headers=tok)
    assert n == 300 + 1 - 2 - 60
    st, got, _ = call(coll_url(cluster, 2, cid) + "/get", "POST", {"where": {"g": 4}}, headers=tok)
    assert got["ids"] == []


def stream_messages(cluster, cid):
    out = subprocess.run([BIN, "cluster", "status", "--cluster", cluster.nats, "--json"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    coll = [c for c in json.loads(out.stdout)["collections"] if c["id"] == cid][0]
    return sum(s["messages"] for s in coll["shard"])


def test_bad_input_is_refused_before_publishing(cluster):
    cid = make_collection(cluster, "bad1")
    st, body, _ = call(coll_url(cluster, 0, cid) + "/add", "POST", {"ids": ["a", "b"], "embeddings": [[1, 2], [3, 4]]})
    assert st == 201
    published = stream_messages(cluster, cid)
    st, body, _ = call(coll_url(cluster, 1, cid) + "/add", "POST", {"ids": ["c"], "embeddings": [[1, 2, 3]]})
    assert st == 400 and "dimension of 2, got 3" in body["message"]
    st, body, _ = call(coll_url(cluster, 1, cid) + "/add", "POST",
                       {"ids": ["c", "d"], "embeddings": [[1, 2], [1, "x"]]})
    assert st in (400, 422) and "embeddings" in body["message"] and "1" in body["message"], body
    st, body, _ = call(coll_url(cluster, 2, cid) + "/upsert", "POST",
                       {"ids": ["c", "d"], "embeddings": [[1, 2], [1, 2]], "metadatas": [{"k": 1}, {"k": {"no": 1}}]})
    assert st in (400, 422) and "metadatas[1]" in body["message"], body
    st, body, _ = call(coll_url(cluster, 2, cid) + "/delete", "POST", {"where": {"$bogus": 1}})
    assert st == 400, body
    st, n, _ = call(coll_url(cluster, 0, cid) + "/count")
    assert n == 2
    # nothing was published for the refused batches
    assert stream_messages(cluster, cid) == published
    # unknown collection
    st, body, _ = call(coll_url(cluster, 0, "00000000-0000-4000-8000-000000000000") + "/count")
    assert st == 404


def test_mixed_update_keeps_null_rows_embeddings(cluster):
    """An update mixing rows with and without embeddings (null) is taken, each shard's part one
    batch on every replica (qv_batch.has_embedding): the null rows keep their embeddings."""
    S = {"X-Quiver-Consistency": "strong"}
    cid = make_collection(cluster, "mixed1", **{"quiver:shards": 4})
    ids = [f"m{i}" for i in range(12)]
    st, body, _ = call(coll_url(cluster, 0, cid) + "/add", "POST",
                       {"ids": ids, "embeddings": [[float(i), 1.0] for i in range(12)]})
    assert st == 201, body
    embs = [[float(i), -1.0] if i % 3 == 0 else None for i in range(12)]  # some shards get only null rows
    st, body, _ = call(coll_url(cluster, 1, cid) + "/update", "POST",
                       {"ids": ids, "embeddings": embs, "metadatas": [{"u": i} for i in range(12)]})
    assert st == 200, body
    st, got, _ = call(coll_url(cluster, 2, cid) + "/get", "POST", {"ids": ids, "include": ["embeddings", "metadatas"]},
                      headers=S)
    assert st == 200 and got["ids"] == ids, got
    for i, (e, m) in enumerate(zip(got["embeddings"], got["metadatas"])):
        assert e == ([float(i), -1.0] if i % 3 == 0 else [float(i), 1.0]) and m == {"u": i}, (i, e, m)


def test_read_your_writes_token_across_nodes(cluster):
    cid = make_collection(cluster, "ryw1")
    for i in range(20):
        # acknowledged at the log only: the write may not be applied anywhere yet
        st, body, hdr = call(coll_url(cluster, 0, cid) + "/upsert", "POST",
                             {"ids": [f"r{i}"], "embeddings": [[float(i), 1.0]]}, headers={"X-Quiver-Ack": "log"})
        assert st == 200, body
        tok = hdr["X-Quiver-Token"]
        # node 1 acknowledged it, so its own reads see it; another node needs the token
        st, got, _ = call(coll_url(cluster, 0, cid) + "/get", "POST", {"ids": [f"r{i}"]})
        assert got["ids"] == [f"r{i}"]
        st, got, _ = call(coll_url(cluster, 1 + i % 2, cid) + "/get", "POST", {"ids": [f"r{i}"]},
                          headers={"X-Quiver-Token": tok})
        assert st == 200 and got["ids"] == [f"r{i}"], (i, tok, got)
    # strong reads see every acknowledged write, from any node, without a token
    for i in range(20, 30):
        st, body, _ = call(coll_url(cluster, 2, cid) + "/upsert", "POST",
                           {"ids": [f"r{i}"], "embeddings": [[float(i), 1.0]]}, headers={"X-Quiver-Ack": "log"})
        assert st == 200, body
        st, got, _ = call(coll_url(cluster, i % 2, cid) + "/get", "POST", {"ids": [f"r{i}"]},
                          headers={"X-Quiver-Consistency": "strong"})
        assert st == 200 and got["ids"] == [f"r{i}"], (i, got)
    # eventual reads are allowed to lag but answer
    st, n, _ = call(coll_url(cluster, 2, cid) + "/count", headers={"X-Quiver-Consistency": "eventual"})
    assert st == 200 and 0 <= n <= 30


def test_metrics_per_shard(cluster):
    st, _, _ = call(cluster.urls[0] + "/api/v2/heartbeat")
    with urllib.request.urlopen(cluster.urls[0] + "/metrics", timeout=10) as r:
        text = r.read().decode()
    assert re.search(r'^quiver_shard_applied_seq\{collection="[0-9a-f-]{36}",shard="\d+"\} \d+$', text, re.M)
    assert re.search(r"^quiver_cluster_writes_total \d+$", text, re.M)


def wait_converged(cluster, cid, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        out = subprocess.run([BIN, "cluster", "status", "--cluster", cluster.nats, "--json"], capture_output=True,
                             text=True, timeout=30)
        doc = json.loads(out.stdout)
        coll = [c for c in doc["collections"] if c["id"] == cid][0]
        if all(len(s["replicas"]) == 3 and all(r["lag"] == 0 and r["live"] for r in s["replicas"])
               for s in coll["shard"]):
            return coll
        time.sleep(0.5)
    raise AssertionError(f"replicas did not converge: {coll}")


def test_restart_resumes_from_applied_seq(cluster):
    cid = make_collection(cluster, "restart1")
    st, _, _ = call(coll_url(cluster, 0, cid) + "/add", "POST",
                    {"ids": [f"a{i}" for i in range(50)], "embeddings": [[float(i), 0.0] for i in range(50)]})
    assert st == 201
    before = wait_converged(cluster, cid)
    applied = {s["shard"]: [r["applied"] for r in s["replicas"] if r["node"] == "node3"][0] for s in before["shard"]}
    args = cluster.cmdline(2)
    os.kill(cluster.pids[2], signal.SIGTERM)
    deadline = time.time() + 60
    while time.time() < deadline and os.path.exists(f"/proc/{cluster.pids[2]}") and \
            open(f"/proc/{cluster.pids[2]}/stat").read().split()[2] != "Z":
        time.sleep(0.1)
    # writes go on without node 3 (2 of 3 replicas are a majority)
    for b in range(5):
        st, body, _ = call(coll_url(cluster, 0, cid) + "/upsert", "POST",
                           {"ids": [f"b{b}_{i}" for i in range(10)], "embeddings": [[float(i), 1.0] for i in range(10)]})
        assert st == 200, body
    cluster.restart(2, args)
    log = open(os.path.join(cluster.dir, "node3-restart.log")).read()
    for k, seq in applied.items():
        assert f"{cid}/{k} held here, resuming after stream sequence {seq}" in log, log
    after = wait_converged(cluster, cid)
    # every replica applied every message exactly once: same counts everywhere
    for i in range(3):
        st, n, _ = call(coll_url(cluster, i, cid) + "/count")
        assert n == 100, (i, n)
    assert sum(s["last_seq"] for s in after["shard"]) > sum(s["last_seq"] for s in before["shard"])


def test_kill9_keeps_serving(cluster):
    cid = make_collection(cluster, "kill1")
    st, _, _ = call(coll_url(cluster, 2, cid) + "/add", "POST",
                    {"ids": [f"k{i}" for i in range(30)], "embeddings": [[float(i), 2.0] for i in range(30)]})
    assert st == 201
    args = cluster.cmdline(1)
    os.kill(cluster.pids[1], signal.SIGKILL)
    time.sleep(0.5)
    for i in range(10):
        node = 0 if i % 2 == 0 else 2
        st, body, _ = call(coll_url(cluster, node, cid) + "/upsert", "POST",
                           {"ids": [f"x{i}"], "embeddings": [[float(i), 3.0]]})
        assert st == 200, body
        st, res, _ = call(coll_url(cluster, 2 - node, cid) + "/query", "POST",
                          {"query_embeddings": [[float(i), 3.0]], "n_results": 1},
                          headers={"X-Quiver-Consistency": "strong"})
        assert st == 200 and res["ids"][0] == [f"x{i}"], res
    st, n, _ = call(coll_url(cluster, 0, cid) + "/count", headers={"X-Quiver-Consistency": "strong"})
    assert n == 40
    cluster.restart(1, args)
    wait_converged(cluster, cid)
    st, n, _ = call(coll_url(cluster, 1, cid) + "/count")
    assert n == 40


def test_add_and_remove_a_node_moves_replicas(cluster):
    cid = make_collection(cluster, "elastic1", **{"quiver:shards": 6})
    st, _, _ = call(coll_url(cluster, 0, cid) + "/add", "POST",
                    {"ids": [f"e{i}" for i in range(120)], "embeddings": [[float(i), 5.0] for i in range(120)]})
    assert st == 201
    wait_converged(cluster, cid)
    port = int(subprocess.run(["/usr/bin/python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); "
                               "print(s.getsockname()[1])"], capture_output=True, text=True).stdout)
    data = os.path.join(cluster.dir, "node4")
    log = open(os.path.join(cluster.dir, "node4.log"), "w")
    p = subprocess.Popen([BIN, "serve", "--data", data, "--port", str(port), "--node-id", "node4", "--cluster",
                          cluster.nats, "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT)
    cluster.extra.append(p)
    try:
        # node 4 wins some replicas, catches up from the streams; the old holders drop theirs
        end = time.time() + 60
        while True:
            doc = json.loads(subprocess.run([BIN, "cluster", "status", "--cluster", cluster.nats, "--json"],
                                            capture_output=True, text=True, timeout=30).stdout)
            coll = [c for c in doc["collections"] if c["id"] == cid][0]
            holders = [sorted(r["node"] for r in s["replicas"]) for s in coll["shard"]]
            lags = [r["lag"] for s in coll["shard"] for r in s["replicas"]]
            if any("node4" in h for h in holders) and all(len(h) == 3 for h in holders) and not any(lags):
                break
            assert time.time() < end, f"replicas did not move to node4: {holders}"
            time.sleep(0.5)
        st, n, _ = call(f"http://127.0.0.1:{port}{BASE}/collections/{cid}/count")
        assert st == 200 and n == 120
        st, res, _ = call(f"http://127.0.0.1:{port}{BASE}/collections/{cid}/query", "POST",
                          {"query_embeddings": [[7.0, 5.0]], "n_results": 1})
        assert res["ids"] == [["e7"]]
        # remove it: stop, forget; its replicas go back to nodes 1-3
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0
        out = subprocess.run([BIN, "cluster", "remove-node", "node4", "--cluster", cluster.nats],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        after = wait_converged(cluster, cid)
        assert all(sorted(r["node"] for r in s["replicas"]) == ["node1", "node2", "node3"] for s in after["shard"])
        for i in range(3):
            st, n, _ = call(coll_url(cluster, i, cid) + "/count")
            assert n == 120
    finally:
        if p.poll() is None:
            p.kill()


def test_cluster_options_are_checked():
    data = tempfile.mkdtemp(prefix="qv_cluster_opts_")
    try:
        for bad in (["--shards", "0"], ["--replicas", "9"], ["--cluster-ack", "sometimes"], ["--cluster-wait", "5"]):
            r = subprocess.run([BIN, "serve", "--data", data, "--cluster", "nats://127.0.0.1:1", *bad],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 2 and "bad value for " + bad[0] in r.stderr, (bad, r.stderr)
        r = subprocess.run([BIN, "cluster", "status"], capture_output=True, text=True, timeout=30,
                           env={k: v for k, v in os.environ.items() if k != "QUIVER_CLUSTER"})
        assert r.returncode == 2 and "--cluster" in r.stderr
        r = subprocess.run([BIN, "cluster", "frobnicate", "--cluster", "nats://127.0.0.1:1"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2 and "unknown sub-command" in r.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)

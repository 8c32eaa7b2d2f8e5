# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cluster/test_cluster_pinecone.py -- the Pinecone face in cluster mode: a real 3-server
NATS JetStream cluster and 3 quiver nodes from scripts/cluster-up.sh (each node with
--pinecone-port; PINECONE_URLS in DIR/cluster.env), driven over raw HTTP, next to a single
quiver node (no --cluster) that gets the very same requests.

What is checked: indexes made on one node are seen (described, listed, deleted) on the others;
upserts through one node are read through another (read-your-writes with the write's
X-Quiver-Token, and X-Quiver-Consistency: strong); every read answer -- query by vector and by
id, with and without filters, hybrid on a dotproduct index, fetch, list with prefix and
pagination, describe_index_stats per namespace, the namespace routes -- is byte for byte the
single node's; query answers equal a brute-force top-k; update (values, setMetadata, by
filter), upsert replacing a record whole, delete by ids / by filter / deleteAll; bad input
gets the single node's status and message (field and position named), and an index with
deletion protection is not deleted.

Needs nats-server; without it the suite FAILS. Every wait is bounded.
Run: /usr/bin/python3 -m pytest -q tests/cluster/test_cluster_pinecone.py
"""
import json
import math
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from test_cluster import BIN, Cluster

SPEC = {"serverless": {"cloud": "aws", "region": "us-east-1"}}
DIM = 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def req(base, method, path, body=None, raw=None, headers=None):
    """(status, parsed body or None, raw bytes, headers)."""
    data = raw.encode() if isinstance(raw, str) else raw
    if data is None and body is not None:
        data = json.dumps(body).encode()
    h = {"Content-Type": "application/json", "Api-Key": "k"}
    h.update(headers or {})
    r = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            text = resp.read()
            st, hd = resp.status, dict(resp.headers)
    except urllib.error.HTTPError as e:
        text, st, hd = e.read(), e.code, dict(e.headers)
    try:
        j = json.loads(text) if text else None
    except ValueError:
        j = None
    return st, j, text, hd


class Single:
    """One quiver node without --cluster, Pinecone face on."""

    def __init__(self, root):
        self.port, self.pc = free_port(), free_port()
        self.log = open(os.path.join(root, "single.log"), "w+")
        self.proc = subprocess.Popen([BIN, "serve", "--data", os.path.join(root, "single"), "--port", str(self.port),
                                      "--pinecone-port", str(self.pc), "--log-level", "warn"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.pc}"
        end = time.time() + 30
        while True:
            assert self.proc.poll() is None, "single node exited"
            try:
                if req(self.url, "GET", "/indexes")[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < end, "single node not ready"
            time.sleep(0.1)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -1


@pytest.fixture(scope="module")
def env():
    root = tempfile.mkdtemp(prefix="qv_clpc_")
    c = Cluster(root)
    s = Single(root)
    try:
        with open(os.path.join(c.dir, "cluster.env")) as f:
            kv = dict(ln.strip().partition("=")[::2] for ln in f if "=" in ln)
        pcs = kv["PINECONE_URLS"].split(",")
        assert len(pcs) == 3
        yield c, s, pcs
    finally:
        s.stop()
        rc = c.stop()
        assert rc == 0, f"cluster-up.sh exited {rc} on SIGTERM"
        if not os.environ.get("QV_TEST_KEEP"):
            shutil.rmtree(root, ignore_errors=True)


def both(env, method, path, body=None, node=0, raw=None, headers=None, same=True):
    """Send one request to the single node and to cluster node `node`; the two answers must
    agree (status, and body byte for byte when same). Returns the cluster's answer."""
    c, s, pcs = env
    a = req(s.url, method, path, body, raw)
    b = req(pcs[node], method, path, body, raw, headers)
    assert a[0] == b[0], (path, body, a[2], b[2])
    if same and a[2] != b[2]:
        raise AssertionError(f"{method} {path} {body}:\nsingle:  {a[2].decode(errors='replace')}\n"
                             f"cluster: {b[2].decode(errors='replace')}")
    return b


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def cosine(a, b):
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def test_control_plane_is_shared(env):
    c, s, pcs = env
    st, j, _, _ = both(env, "POST", "/indexes", {"name": "docs", "dimension": DIM, "metric": "cosine", "spec": SPEC},
                       same=False)
    assert st == 201 and j["dimension"] == DIM and j["host"] == pcs[0] + "/data/docs"
    for body in ({"name": "docs", "dimension": DIM, "spec": SPEC},                 # taken: 409
                 {"name": "Bad_Name", "dimension": DIM, "spec": SPEC},             # 400 name
                 {"name": "x1", "dimension": 0, "spec": SPEC},                      # 400 dimension
                 {"name": "x1", "dimension": 3, "metric": "manhattan", "spec": SPEC},
                 {"name": "x1", "dimension": 3}):                                   # no spec
        both(env, "POST", "/indexes", body, node=1)
    for name, dim, metric, prot in (("ab", 4, "euclidean", "disabled"), ("hyb", 4, "dotproduct", "disabled"),
                                    ("keep", 2, "cosine", "enabled"), ("gone", 2, "cosine", "disabled")):
        st, j, _, _ = both(env, "POST", "/indexes", {"name": name, "dimension": dim, "metric": metric,
                                                     "deletion_protection": prot, "spec": SPEC}, node=2, same=False)
        assert st == 201, j
    for node in range(3):
        st, j, _, _ = req(pcs[node], "GET", "/indexes")
        assert st == 200 and [i["name"] for i in j["indexes"]] == ["ab", "docs", "gone", "hyb", "keep"]
        st, j, _, _ = req(pcs[node], "GET", "/indexes/ab")
        assert st == 200 and (j["dimension"], j["metric"]) == (4, "euclidean")
    both(env, "DELETE", "/indexes/keep", node=1)            # 403: deletion protection
    both(env, "DELETE", "/indexes/gone", node=1, same=False)  # 202
    both(env, "GET", "/indexes/gone", node=2)                # 404 everywhere now
    both(env, "DELETE", "/indexes/gone", node=0)
    both(env, "GET", "/data/gone/query", node=0)             # 405 (GET on query) ...
    both(env, "POST", "/data/gone/query", {"topK": 1, "vector": [0, 0]}, node=0)  # ... 404 unknown index


def records(n, rng, prefix="doc-"):
    genres = ["drama", "comedy", "news"]
    out = []
    for i in range(n):
        m = {"genre": genres[i % 3], "year": 1990 + i % 30, "score": rng.random()}
        if i % 4 == 0:
            m["tags"] = ["a", "b"] if i % 8 == 0 else ["c"]
        if i % 5 == 0:
            m["rare"] = True
        out.append({"id": f"{prefix}{i:03d}", "values": [rng.uniform(-1, 1) for _ in range(DIM)], "metadata": m})
    return out


def token_of(h):
    return {"X-Quiver-Token": h.get("X-Quiver-Token", "")}


def test_writes_and_reads_across_nodes(env):
    c, s, pcs = env
    rng = random.Random(17)
    recs = records(240, rng)
    toks = []
    for i in range(0, 240, 80):  # written through node 0 (cluster) and the single node
        st, j, _, h = both(env, "POST", "/data/docs/vectors/upsert", {"vectors": recs[i:i + 80], "namespace": "ns1"})
        assert st == 200 and j == {"upsertedCount": 80}, j
        assert h.get("X-Quiver-Token"), h
        toks.append(h["X-Quiver-Token"])
    # read-your-writes through another node: the token of the last write (and strong reads)
    st, j, _, _ = req(pcs[1], "POST", "/data/docs/query", {"topK": 5, "id": "doc-239", "namespace": "ns1"},
                      headers={"X-Quiver-Token": ",".join(toks)})
    assert st == 200 and j["matches"][0]["id"] == "doc-239", j
    strong = {"X-Quiver-Consistency": "strong"}
    # query by vector: brute-force top-k, and the single node's answer byte for byte
    for qi in range(6):
        q = [rng.uniform(-1, 1) for _ in range(DIM)]
        st, j, _, _ = both(env, "POST", "/data/docs/query", {"topK": 10, "vector": q, "namespace": "ns1",
                                                             "includeMetadata": qi % 2 == 0, "includeValues": qi == 3},
                           node=qi % 3, headers=strong)
        brute = sorted(recs, key=lambda r: -cosine(q, r["values"]))[:10]
        assert [m["id"] for m in j["matches"]] == [r["id"] for r in brute]
        for m, r in zip(j["matches"], brute):
            assert abs(m["score"] - cosine(q, r["values"])) < 1e-5
    # filters
    q = [rng.uniform(-1, 1) for _ in range(DIM)]
    for flt, keep in (({"genre": "drama"}, lambda m: m["genre"] == "drama"),
                      ({"year": {"$gte": 2005}, "genre": {"$ne": "news"}}, lambda m: m["year"] >= 2005 and m["genre"] != "news"),
                      ({"$or": [{"tags": {"$in": ["c"]}}, {"rare": True}]}, lambda m: "c" in m.get("tags", []) or m.get("rare") is True),
                      ({"tags": {"$exists": False}}, lambda m: "tags" not in m),
                      ({"genre": {"$nin": ["drama", "comedy"]}}, lambda m: m["genre"] not in ("drama", "comedy"))):
        st, j, _, _ = both(env, "POST", "/data/docs/query", {"topK": 7, "vector": q, "namespace": "ns1", "filter": flt,
                                                             "includeMetadata": True}, node=2, headers=strong)
        brute = sorted([r for r in recs if keep(r["metadata"])], key=lambda r: -cosine(q, r["values"]))[:7]
        assert [m["id"] for m in j["matches"]] == [r["id"] for r in brute], flt
    # query by id, fetch (values are the float32 of what was sent), list with prefix and pages
    both(env, "POST", "/data/docs/query", {"topK": 4, "id": "doc-007", "namespace": "ns1", "includeValues": True},
         node=1, headers=strong)
    both(env, "POST", "/data/docs/query", {"topK": 4, "id": "no-such", "namespace": "ns1"}, node=1, headers=strong)
    st, j, _, _ = both(env, "GET", "/data/docs/vectors/fetch?ids=doc-003&ids=nope&ids=doc-100&ids=doc-003&namespace=ns1",
                       node=2, headers=strong)
    assert sorted(j["vectors"]) == ["doc-003", "doc-100"]
    assert [f32(x) for x in j["vectors"]["doc-100"]["values"]] == [f32(x) for x in recs[100]["values"]]
    assert j["vectors"]["doc-100"]["metadata"] == recs[100]["metadata"]
    tok, seen = "", []
    for _ in range(30):
        path = "/data/docs/vectors/list?namespace=ns1&prefix=doc-1&limit=7" + (f"&paginationToken={tok}" if tok else "")
        st, j, _, _ = both(env, "GET", path, node=len(seen) % 3, headers=strong)
        seen += [v["id"] for v in j["vectors"]]
        tok = j.get("pagination", {}).get("next")
        if not tok:
            break
    assert seen == sorted(r["id"] for r in recs if r["id"].startswith("doc-1"))
    # --cluster-ack log per request (X-Quiver-Ack: log), then read elsewhere with the token only
    extra = records(3, rng, "log-")
    st, j, _, h = both(env, "POST", "/data/docs/vectors/upsert", {"vectors": extra, "namespace": "ns1"}, node=2,
                       headers={"X-Quiver-Ack": "log"})
    assert st == 200 and h.get("X-Quiver-Token"), h
    st, j, _, _ = both(env, "GET", "/data/docs/vectors/fetch?ids=log-000&ids=log-001&ids=log-002&namespace=ns1",
                       node=0, headers=token_of(h))
    assert sorted(j["vectors"]) == ["log-000", "log-001", "log-002"]
    both(env, "GET", "/data/docs/vectors/list?namespace=empty", node=0)
    both(env, "POST", "/data/docs/query", {"topK": 3, "vector": q, "namespace": "empty"}, node=0)


def test_update_upsert_delete_namespaces_stats(env):
    c, s, pcs = env
    strong = {"X-Quiver-Consistency": "strong"}
    rng = random.Random(5)
    # update: values, setMetadata (merged), by filter (matchedRecords), dry run
    both(env, "POST", "/data/docs/vectors/update", {"id": "doc-010", "namespace": "ns1", "setMetadata": {"genre": "x", "new": 1}},
         node=1)
    both(env, "POST", "/data/docs/vectors/update", {"id": "doc-011", "namespace": "ns1",
                                                    "values": [0.5] * DIM}, node=2)
    st, j, _, _ = both(env, "POST", "/data/docs/vectors/update", {"filter": {"genre": "comedy"}, "namespace": "ns1",
                                                                  "setMetadata": {"flag": "on"}}, node=0)
    assert j["matchedRecords"] == 80, j  # 80 comedies, doc-010 is "x" now, log-001 one more
    both(env, "POST", "/data/docs/vectors/update", {"filter": {"flag": "on"}, "namespace": "ns1", "dryRun": True,
                                                    "setMetadata": {"flag": "off"}}, node=1)
    both(env, "POST", "/data/docs/vectors/update", {"id": "missing", "namespace": "ns1", "setMetadata": {"a": 1}}, node=1)
    # upsert replaces a record whole: the old keys go
    both(env, "POST", "/data/docs/vectors/upsert", {"namespace": "ns1", "vectors": [
        {"id": "doc-012", "values": [0.1] * DIM, "metadata": {"only": "this"}},
        {"id": "doc-013", "values": [0.2] * DIM},
        {"id": "doc-013", "values": [0.3] * DIM, "metadata": {"last": "wins"}}]}, node=2, same=False)
    st, j, _, _ = both(env, "GET", "/data/docs/vectors/fetch?ids=doc-010&ids=doc-011&ids=doc-012&ids=doc-013&ids=doc-016"
                       "&namespace=ns1", node=0, headers=strong)
    assert j["vectors"]["doc-012"]["metadata"] == {"only": "this"}
    assert j["vectors"]["doc-013"]["metadata"] == {"last": "wins"}
    assert j["vectors"]["doc-010"]["metadata"]["genre"] == "x" and j["vectors"]["doc-010"]["metadata"]["new"] == 1
    assert j["vectors"]["doc-016"]["metadata"]["flag"] == "on"
    # namespaces: default and another, then stats with and without a filter
    for ns in ("", "other"):
        both(env, "POST", "/data/docs/vectors/upsert", {"namespace": ns, "vectors": records(20, rng, "o-")},
             node=1, same=False)
    for node in range(3):
        both(env, "POST", "/data/docs/describe_index_stats", {}, node=node, headers=strong)
        both(env, "POST", "/data/docs/describe_index_stats", {"filter": {"genre": "drama"}}, node=node, headers=strong)
        both(env, "GET", "/data/docs/namespaces", node=node, headers=strong)
        both(env, "GET", "/data/docs/namespaces?limit=1", node=node, headers=strong)
        both(env, "GET", "/data/docs/namespaces/other", node=node, headers=strong)
    # deletes: ids, filter, deleteAll (the namespace goes)
    both(env, "POST", "/data/docs/vectors/delete", {"ids": ["doc-000", "doc-001", "nope"], "namespace": "ns1"}, node=2)
    both(env, "POST", "/data/docs/vectors/delete", {"filter": {"genre": "news"}, "namespace": "ns1"}, node=0)
    both(env, "POST", "/data/docs/vectors/delete", {"deleteAll": True, "namespace": "other"}, node=1)
    st, j, _, _ = both(env, "POST", "/data/docs/describe_index_stats", {}, node=2, headers=strong)
    assert sorted(j["namespaces"]) == ["__default__", "ns1"], j
    st, j, _, _ = both(env, "GET", "/data/docs/vectors/fetch?ids=doc-000&ids=doc-002&ids=doc-003&namespace=ns1",
                       node=1, headers=strong)
    assert sorted(j["vectors"]) == ["doc-003"], j  # 000 deleted by id, 002 is news (deleted by filter)
    both(env, "POST", "/data/docs/namespaces", {"name": "made"}, node=0)
    both(env, "POST", "/data/docs/namespaces", {"name": "made"}, node=1)      # 409
    both(env, "DELETE", "/data/docs/namespaces/made", node=2)
    both(env, "GET", "/data/docs/namespaces/made", node=0)                     # 404


def test_euclidean_short_name_and_hybrid(env):
    c, s, pcs = env
    strong = {"X-Quiver-Consistency": "strong"}
    rng = random.Random(9)
    vecs = [{"id": f"e{i}", "values": [rng.uniform(-2, 2) for _ in range(4)], "metadata": {"k": i % 2}} for i in range(60)]
    both(env, "POST", "/data/ab/vectors/upsert", {"vectors": vecs}, node=0, same=False)
    q = [0.1, -0.2, 0.3, 0.4]
    st, j, _, _ = both(env, "POST", "/data/ab/query", {"topK": 6, "vector": q, "filter": {"k": 1}}, node=1, headers=strong)
    brute = sorted([v for v in vecs if v["metadata"]["k"] == 1],
                   key=lambda v: sum((a - b) ** 2 for a, b in zip(q, v["values"])))[:6]
    assert [m["id"] for m in j["matches"]] == [v["id"] for v in brute]
    hv = [{"id": f"h{i}", "values": [rng.uniform(-1, 1) for _ in range(4)],
           "sparseValues": {"indices": [i % 7, 10 + i % 3], "values": [rng.random(), rng.random()]}} for i in range(40)]
    both(env, "POST", "/data/hyb/vectors/upsert", {"vectors": hv}, node=2, same=False)
    both(env, "POST", "/data/hyb/query", {"topK": 8, "vector": [0.2, 0.1, -0.3, 0.5],
                                          "sparseVector": {"indices": [3, 11], "values": [0.7, 0.4]},
                                          "includeValues": True}, node=0, headers=strong)
    both(env, "POST", "/data/hyb/query", {"topK": 5, "id": "h3", "includeMetadata": True}, node=1, headers=strong)
    both(env, "POST", "/data/hyb/vectors/update", {"id": "h4", "sparseValues": {"indices": [1], "values": [2.5]}}, node=1)
    both(env, "GET", "/data/hyb/vectors/fetch?ids=h4&ids=h5", node=2, headers=strong)


BAD = [
    ("/data/docs/vectors/upsert", {"vectors": [{"id": "a", "values": [0.0] * DIM}] * 3 + [{"id": "b", "values": [1, 2]}]}),
    ("/data/docs/vectors/upsert", {"vectors": [{"id": "a", "values": [0.0] * DIM}, {"id": "b", "values": [0.0] * DIM,
                                                                                    "metadata": {"x": {"y": 1}}}]}),
    ("/data/docs/vectors/upsert", {"vectors": [{"id": "", "values": [0.0] * DIM}]}),
    ("/data/docs/vectors/upsert", {"vectors": [{"id": "a", "values": [0.0] * DIM, "sparseValues": {"indices": [1], "values": [1]}}]}),
    ("/data/docs/vectors/upsert", {"vectors": []}),
    ("/data/docs/vectors/upsert", {"vectors": [{"id": "a", "values": [0.0] * DIM}], "namespace": 5}),
    ("/data/docs/query", {"topK": 0, "vector": [0.0] * DIM}),
    ("/data/docs/query", {"topK": 3, "vector": [0.0] * 3}),
    ("/data/docs/query", {"topK": 3, "vector": [0.0] * DIM, "filter": {"genre": {"$regex": "x"}}}),
    ("/data/docs/query", {"topK": 3, "vector": [0.0] * DIM, "id": "x"}),
    ("/data/docs/vectors/update", {"filter": {"genre": "x"}, "values": [0.0] * DIM}),
    ("/data/docs/vectors/update", {"id": "a", "setMetadata": {"$bad": 1}}),
    ("/data/docs/vectors/delete", {"ids": ["a", 3]}),
    ("/data/docs/vectors/delete", {"ids": ["a"], "deleteAll": True}),
    ("/data/docs/vectors/delete", {}),
    ("/data/docs/describe_index_stats", {"filter": "x"}),
]


@pytest.mark.parametrize("path,body", BAD)
def test_bad_input_answers_like_a_single_node(env, path, body):
    st, j, _, _ = both(env, "POST", path, body, node=random.Random(path).randrange(3))
    assert st == 400 and j["message"], j


def test_nothing_written_on_bad_batch(env):
    c, s, pcs = env
    both(env, "POST", "/data/docs/vectors/upsert",
         {"namespace": "nb", "vectors": [{"id": "ok", "values": [0.0] * DIM}, {"id": "bad", "values": [0.0]}]}, node=1)
    both(env, "POST", "/data/docs/describe_index_stats", {}, node=2, headers={"X-Quiver-Consistency": "strong"})


def test_batch_over_nats_max_payload_is_refused_whole(env):
    c, s, pcs = env
    vecs = [{"id": f"big-{i}", "values": [0.5] * DIM, "metadata": {"t": "x" * 4000}} for i in range(1000)]
    st, j, _, _ = req(pcs[0], "POST", "/data/docs/vectors/upsert", {"namespace": "big", "vectors": vecs})
    assert st == 413 and "max_payload" in j["message"] and isinstance(j["code"], int), j
    st, j, _, _ = req(pcs[1], "GET", "/data/docs/vectors/fetch?ids=big-0&ids=big-500&ids=big-999&namespace=big",
                      headers={"X-Quiver-Consistency": "strong"})
    assert st == 200 and j["vectors"] == {}, j  # no shard got its part
    st, j, _, _ = req(pcs[2], "POST", "/data/docs/vectors/upsert", {"namespace": "big", "vectors": vecs[:100]})
    assert st == 200 and j == {"upsertedCount": 100}, j


def test_concurrent_upserts_of_one_id_never_merge(env):
    """Upserts of one id through three nodes at once: each replaces the record whole, in the
    stream's order, so every node then reads one writer's record, never a mix of keys."""
    import threading
    c, s, pcs = env
    errors = []

    def writer(t):
        for i in range(15):
            st, j, _, _ = req(pcs[t], "POST", "/data/docs/vectors/upsert",
                              {"namespace": "race", "vectors": [{"id": "r", "values": [t + 1.0] * DIM,
                                                                 "metadata": {f"w{t}": i, "by": t}}]})
            if st != 200:
                errors.append((st, j))
    th = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
    for x in th:
        x.start()
    for x in th:
        x.join(timeout=120)
    assert not errors, errors
    seen = []
    for node in range(3):
        st, j, _, _ = req(pcs[node], "GET", "/data/docs/vectors/fetch?ids=r&namespace=race",
                          headers={"X-Quiver-Consistency": "strong"})
        m = j["vectors"]["r"]["metadata"]
        assert len(m) == 2 and m == {f"w{m['by']}": 14, "by": m["by"]}, m  # one write, whole: the last of one writer
        assert j["vectors"]["r"]["values"] == [m["by"] + 1.0] * DIM
        seen.append(j["vectors"]["r"])
    assert seen[0] == seen[1] == seen[2]


def test_kill_9_of_a_node_then_restart(env):
    """kill -9 of node 3: writes through node 1 and reads through node 2 go on (2 of 3
    replicas are a majority); node 3, restarted with its command line, serves the Pinecone API
    again and answers like the others."""
    c, s, pcs = env
    args = c.cmdline(2)
    assert "--pinecone-port" in args
    os.kill(c.pids[2], signal.SIGKILL)
    time.sleep(0.5)
    rng = random.Random(23)
    vecs = records(30, rng, "k9-")
    both(env, "POST", "/data/docs/vectors/upsert", {"namespace": "k9", "vectors": vecs}, node=0)
    q = {"topK": 5, "vector": [rng.uniform(-1, 1) for _ in range(DIM)], "namespace": "k9", "includeMetadata": True}
    strong = {"X-Quiver-Consistency": "strong"}
    both(env, "POST", "/data/docs/query", q, node=1, headers=strong)
    c.restart(2, args)
    end = time.time() + 60
    while True:  # its Pinecone listener comes up with the node
        try:
            if req(pcs[2], "GET", "/indexes")[0] == 200:
                break
        except OSError:
            pass
        assert time.time() < end, "restarted node's Pinecone API not up"
        time.sleep(0.2)
    both(env, "POST", "/data/docs/query", q, node=2, headers=strong)
    both(env, "GET", "/data/docs/vectors/list?namespace=k9&limit=50", node=2, headers=strong)
    st, j, _, _ = req(pcs[2], "POST", "/data/docs/describe_index_stats", {}, headers=strong)
    assert st == 200 and j["namespaces"]["k9"] == {"vectorCount": 30}, j

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cluster/test_snapshot.py -- shard snapshots in JetStream's object store (server/cluster/
cl_snap.c, docs/CLUSTER.md "Snapshots") on a real cluster started by scripts/cluster-up.sh with a
low threshold (--snapshot-batches 10).

What is checked: snapshots are taken and the shard streams trimmed (first sequence > 1); the
object store's layout is ADR-20's (stream OBJ_quiver, meta on $O.quiver.M.<base64url(name)>
rolled up, chunks on $O.quiver.C.<nuid>, SHA-256 digest), read here with a minimal NATS client
of our own, independent of quiver's code; a node added to the cluster gets replicas made from
the latest snapshot plus the stream's tail (metric, only the tail applied) and answers like
the others; a node removed moves its replicas to a node that restores them the same way; a
corrupt snapshot is refused with a log line naming the check and the replica replays the
stream instead (it still has the history). Every wait is bounded.
Run: /usr/bin/python3 -m pytest -q tests/cluster/test_snapshot.py
"""
import base64
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from test_cluster import BASE, BIN, Cluster, call

THRESHOLD = 10
M64 = (1 << 64) - 1


def cl_hash(s):
    """server/cluster/cl_core.c cl_hash(): FNV-1a 64 with a final mix."""
    h = 1469598103934665603
    for c in s.encode():
        h = ((h ^ c) * 1099511628211) & M64
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & M64
    h ^= h >> 33
    return h


def placement(nodes, cid, k, replicas):
    return sorted(nodes, key=lambda n: -cl_hash(f"{n}/{cid}/{k}"))[:replicas]


class Nats:
    """Just enough of the NATS client protocol for JetStream API requests and publishes."""

    def __init__(self, url):
        host, port = url.split(",")[0].replace("nats://", "").split(":")
        self.s = socket.create_connection((host, int(port)), timeout=15)
        self.f = self.s.makefile("rb")
        assert self.f.readline().startswith(b"INFO")
        self.s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,'
                       b'"protocol":1}\r\nPING\r\n')
        while True:
            ln = self.f.readline()
            if ln.startswith(b"PONG"):
                break
            assert not ln.startswith(b"-ERR"), ln
        self.sid = 0

    def request(self, subj, payload=b"", headers=None):
        self.sid += 1
        inbox = f"_INBOX.qvt{random.getrandbits(48)}"
        out = f"SUB {inbox} {self.sid}\r\n".encode()
        if headers:
            hb = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            out += f"HPUB {subj} {inbox} {len(hb)} {len(hb) + len(payload)}\r\n".encode() + hb + payload + b"\r\n"
        else:
            out += f"PUB {subj} {inbox} {len(payload)}\r\n".encode() + payload + b"\r\n"
        self.s.sendall(out)
        while True:
            ln = self.f.readline()
            assert ln, "NATS connection closed"
            if ln.startswith(b"PING"):
                self.s.sendall(b"PONG\r\n")
                continue
            parts = ln.split()
            if parts[0] in (b"MSG", b"HMSG"):
                total = int(parts[-1])
                body = self.f.read(total + 2)[:total]
                if parts[0] == b"HMSG":
                    body = body[int(parts[-2]):]
                self.s.sendall(f"UNSUB {self.sid}\r\n".encode())
                return json.loads(body) if body else None
            assert not ln.startswith(b"-ERR"), ln

    def close(self):
        self.s.close()


def meta_subject(name):
    return "$O.quiver.M." + base64.urlsafe_b64encode(name.encode()).decode()


def read_object(nc, name):
    """(meta, content) of a snapshot object, read the way an object-store client does."""
    r = nc.request("$JS.API.STREAM.MSG.GET.OBJ_quiver", json.dumps({"last_by_subj": meta_subject(name)}).encode())
    assert "message" in r, r
    meta = json.loads(base64.b64decode(r["message"]["data"]))
    content, seq = b"", 1
    for _ in range(meta["chunks"]):
        r = nc.request("$JS.API.STREAM.MSG.GET.OBJ_quiver",
                       json.dumps({"seq": seq, "next_by_subj": "$O.quiver.C." + meta["nuid"]}).encode())
        assert "message" in r, r
        content += base64.b64decode(r["message"]["data"])
        seq = r["message"]["seq"] + 1
    return meta, content


def status(cluster):
    out = subprocess.run([BIN, "cluster", "status", "--cluster", cluster.nats, "--json"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def coll_status(cluster, cid):
    return [c for c in status(cluster)["collections"] if c["id"] == cid][0]


def metrics(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        return r.read().decode()


def metric(text, name, cid, k):
    m = re.search(r'^%s\{collection="%s",shard="%d"\} (\S+)$' % (name, cid, k), text, re.M)
    return float(m.group(1)) if m else None


def logs(cluster):
    out = []
    for name in sorted(os.listdir(cluster.dir)):
        if name.endswith(".log") and name.startswith(("node", "n")):
            with open(os.path.join(cluster.dir, name)) as f:
                out.append(f"--- {name}\n" + "".join(l for l in f.readlines()[-15:]))
    return "\n".join(out)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture(scope="module")
def cluster():
    root = tempfile.mkdtemp(prefix="qv_snap_")
    old = os.environ.get("QV_CLUSTER_ARGS")
    os.environ["QV_CLUSTER_ARGS"] = f"--snapshot-batches {THRESHOLD}"
    try:
        c = Cluster(root)
    finally:
        if old is None:
            del os.environ["QV_CLUSTER_ARGS"]
        else:
            os.environ["QV_CLUSTER_ARGS"] = old
    c.members = ["node1", "node2", "node3"]
    c.root = root
    try:
        yield c
    finally:
        rc = c.stop()
        assert rc == 0, f"cluster-up.sh exited {rc} on SIGTERM"
        shutil.rmtree(root, ignore_errors=True)


def start_node(cluster, node_id):
    port = free_port()
    log = open(os.path.join(cluster.dir, f"{node_id}.log"), "w")
    p = subprocess.Popen([BIN, "serve", "--data", os.path.join(cluster.dir, node_id), "--port", str(port), "--node-id",
                          node_id, "--cluster", cluster.nats, "--log-level", "warn", "--snapshot-batches",
                          str(THRESHOLD)], stdout=log, stderr=subprocess.STDOUT)
    cluster.extra.append(p)
    url = f"http://127.0.0.1:{port}"
    end = time.time() + 60
    while time.time() < end:
        assert p.poll() is None, open(log.name).read()
        try:
            if call(url + "/api/v2/cluster", timeout=5)[0] == 200:
                cluster.members.append(node_id)
                return p, url, log.name
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{node_id} not ready in 60 s")


def stop_node(cluster, p, node_id):
    """Stop a node the tests started and forget it, so later collections are not placed on it."""
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 0
    out = subprocess.run([BIN, "cluster", "remove-node", node_id, "--cluster", cluster.nats], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    cluster.members.remove(node_id)


def everything(url, cid):
    st, got, _ = call(f"{url}{BASE}/collections/{cid}/get", "POST",
                      {"include": ["embeddings", "metadatas", "documents"]},
                      headers={"X-Quiver-Consistency": "strong"})
    assert st == 200, got
    return sorted(zip(got["ids"], [json.dumps(e) for e in got["embeddings"]],
                      [json.dumps(m, sort_keys=True) for m in got["metadatas"]], got["documents"]))


def write_batches(cluster, cid, n, tag, recs, rng, dim=4):
    for b in range(n):
        ids = [f"{tag}{b}_{i}" for i in range(6)]
        embs = [[rng.uniform(-1, 1) for _ in range(dim)] for _ in ids]
        metas = [{"b": b, "t": tag} for _ in ids]
        node = b % len(cluster.urls)
        st, body, _ = call(f"{cluster.urls[node]}{BASE}/collections/{cid}/upsert", "POST",
                           {"ids": ids, "embeddings": embs, "metadatas": metas, "documents": [f"d {i}" for i in ids]})
        assert st == 200, body
        for i, e, m in zip(ids, embs, metas):
            recs[i] = (e, m)
        if b % 7 == 3:  # some deletes and updates, so a snapshot is not just the adds
            st, body, _ = call(f"{cluster.urls[node]}{BASE}/collections/{cid}/delete", "POST", {"ids": ids[:2]})
            assert st == 200, body
            for i in ids[:2]:
                recs.pop(i)
            st, body, _ = call(f"{cluster.urls[node]}{BASE}/collections/{cid}/update", "POST",
                               {"ids": [ids[2]], "metadatas": [{"b": -1}]})
            assert st == 200, body
            recs[ids[2]][1]["b"] = -1


def wait_replica(url, cid, k, want_seq, timeout=60):
    end = time.time() + timeout
    text = ""
    while time.time() < end:
        try:
            text = metrics(url)
        except OSError:  # a node just (re)started: not listening yet
            time.sleep(0.3)
            continue
        seq = metric(text, "quiver_shard_applied_seq", cid, k)
        if seq is not None and seq >= want_seq:
            return text
        time.sleep(0.3)
    raise AssertionError(f"replica {cid}/{k} at {url} did not reach {want_seq}:\n" +
                         "\n".join(l for l in text.splitlines() if cid in l))


def test_snapshots_trim_streams_and_new_replicas_restore(cluster):
    rng = random.Random(11)
    cid = call(cluster.urls[0] + BASE + "/collections", "POST",
               {"name": "snap1", "metadata": {"quiver:shards": 2, "quiver:replicas": 2}})[1]["id"]
    recs = {}
    write_batches(cluster, cid, 45, "a", recs, rng)
    # snapshots taken, streams trimmed below them
    end = time.time() + 60
    while True:
        coll = coll_status(cluster, cid)
        if all(s["snapshot"] and s["snapshot"]["seq"] >= THRESHOLD and s["first_seq"] > 1 for s in coll["shard"]):
            break
        assert time.time() < end, (json.dumps(coll["shard"]), logs(cluster))
        time.sleep(0.5)
    for s in coll["shard"]:
        assert s["first_seq"] <= s["snapshot"]["seq"] <= s["last_seq"]
        assert s["messages"] == s["last_seq"] - s["first_seq"] + 1
    # the object store's layout, read without quiver: ADR-20
    nc = Nats(cluster.nats)
    try:
        info = nc.request("$JS.API.STREAM.INFO.OBJ_quiver")
        assert sorted(info["config"]["subjects"]) == ["$O.quiver.C.>", "$O.quiver.M.>"], info
        assert info["config"]["allow_rollup_hdrs"] is True
        for k in range(2):
            meta, content = read_object(nc, f"{cid}/{k}")
            assert meta["name"] == f"{cid}/{k}" and meta["bucket"] == "quiver"
            assert meta["size"] == len(content) and meta["chunks"] >= 1
            dg = "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(content).digest()).decode()
            assert meta["digest"] == dg
            lines = content.decode().splitlines()
            hdr = json.loads(lines[0])
            assert hdr["format"] == "quiver-shard-snapshot" and hdr["collection"] == cid and hdr["shard"] == k
            assert str(hdr["seq"]) == meta["metadata"]["quiver-seq"]
            assert json.loads(lines[-1]) == {"end": True, "records": int(meta["metadata"]["quiver-records"])}
            # one meta per name (rolled up): only the latest is kept
            r = nc.request("$JS.API.STREAM.INFO.OBJ_quiver",
                           json.dumps({"subjects_filter": meta_subject(f"{cid}/{k}")}).encode())
            assert r["state"]["subjects"] == {meta_subject(f"{cid}/{k}"): 1}, r["state"]
    finally:
        nc.close()
    # the taker stored them and counts them
    taken = 0
    for u in cluster.urls:
        t = metrics(u)
        taken += sum(metric(t, "quiver_shard_snapshots_total", cid, k) or 0 for k in range(2))
    assert taken >= 2 * (45 // THRESHOLD) - 2, taken

    # add a node that wins a replica of shard 0: made from the snapshot plus the stream's tail
    new_id = next(f"n4x{i}" for i in range(1000) if "n4x%d" % i in placement(cluster.members + ["n4x%d" % i], cid, 0, 2))
    p4, url4, log4 = start_node(cluster, new_id)
    coll = coll_status(cluster, cid)
    s0 = coll["shard"][0]
    text = wait_replica(url4, cid, 0, s0["last_seq"])
    assert metric(text, "quiver_shard_snapshot_restores_total", cid, 0) >= 1, text
    # it applied only the tail, not the history
    assert metric(text, "quiver_shard_batches_applied_total", cid, 0) < s0["last_seq"] - s0["first_seq"] + 1
    assert "restored from snapshot at sequence" in open(log4).read()
    # more writes after the move, then every node answers the same, the truth
    write_batches(cluster, cid, 8, "b", recs, rng)
    truth = sorted((i, json.dumps(m, sort_keys=True), f"d {i}") for i, (e, m) in recs.items())
    got4 = everything(url4, cid)
    assert [(g[0], g[2], g[3]) for g in got4] == truth
    for u in cluster.urls:
        assert everything(u, cid) == got4
    q = [0.1, -0.2, 0.3, 0.05]
    brute = sorted(recs, key=lambda i: sum((a - b) ** 2 for a, b in zip(recs[i][0], q)))[:7]
    for u in cluster.urls + [url4]:
        st, res, _ = call(f"{u}{BASE}/collections/{cid}/query", "POST", {"query_embeddings": [q], "n_results": 7},
                          headers={"X-Quiver-Consistency": "strong"})
        assert st == 200 and res["ids"][0] == brute, (u, res)

    # remove a node that holds a replica of shard 1: its replacement restores from the snapshot.
    # First the replicas node 4 took over are dropped by their old holders (once it caught up).
    end = time.time() + 60
    while True:
        coll = coll_status(cluster, cid)
        if all(sorted(r["node"] for r in s["replicas"]) == sorted(placement(cluster.members, cid, s["shard"], 2))
               for s in coll["shard"]):
            break
        assert time.time() < end, coll["shard"]
        time.sleep(0.5)
    members = cluster.members
    holders = placement(members, cid, 1, 2)
    gone = next(h for h in holders if h.startswith("node"))
    after = placement([m for m in members if m != gone], cid, 1, 2)
    heir = next(h for h in after if h not in holders)
    i = int(gone[4:]) - 1
    os.kill(cluster.pids[i], signal.SIGTERM)
    end = time.time() + 60
    while os.path.exists(f"/proc/{cluster.pids[i]}") and open(f"/proc/{cluster.pids[i]}/stat").read().split()[2] != "Z":
        assert time.time() < end
        time.sleep(0.1)
    out = subprocess.run([BIN, "cluster", "remove-node", gone, "--cluster", cluster.nats], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    members.remove(gone)
    live_urls = [u for j, u in enumerate(cluster.urls) if j != i] + [url4]
    cluster.urls_live = live_urls
    heir_url = url4 if heir == new_id else cluster.urls[int(heir[4:]) - 1]
    for b in range(3):  # a few more writes through live nodes
        ids = [f"c{b}_{j}" for j in range(4)]
        embs = [[rng.uniform(-1, 1) for _ in range(4)] for _ in ids]
        st, body, _ = call(f"{live_urls[b % len(live_urls)]}{BASE}/collections/{cid}/upsert", "POST",
                           {"ids": ids, "embeddings": embs, "metadatas": [{"b": 99, "t": "c"}] * 4,
                            "documents": [f"d {x}" for x in ids]})
        assert st == 200, body
        for x, e in zip(ids, embs):
            recs[x] = (e, {"b": 99, "t": "c"})
    s1 = coll_status(cluster, cid)["shard"][1]
    text = wait_replica(heir_url, cid, 1, s1["last_seq"])
    assert metric(text, "quiver_shard_snapshot_restores_total", cid, 1) >= 1, text
    ref = everything(live_urls[0], cid)
    assert [g[0] for g in ref] == sorted(recs)
    for u in live_urls[1:]:
        assert everything(u, cid) == ref


def test_corrupt_snapshot_is_refused_and_the_replica_replays(cluster):
    rng = random.Random(5)
    live = getattr(cluster, "urls_live", cluster.urls)
    st, obj, _ = call(live[0] + BASE + "/collections", "POST",
                      {"name": "snap2", "metadata": {"quiver:shards": 1, "quiver:replicas": 2}})
    assert st == 200, obj
    cid = obj["id"]
    recs = {}
    for b in range(4):  # below the threshold: no snapshot, the stream keeps its history
        ids = [f"z{b}_{i}" for i in range(5)]
        embs = [[rng.uniform(-1, 1) for _ in range(3)] for _ in ids]
        st, body, _ = call(f"{live[b % len(live)]}{BASE}/collections/{cid}/add", "POST", {"ids": ids, "embeddings": embs})
        assert st == 201, body
        recs.update(zip(ids, embs))
    s0 = coll_status(cluster, cid)["shard"][0]
    assert s0["first_seq"] == 1 and s0["snapshot"] is None
    # a snapshot object whose content does not match its digest
    nc = Nats(cluster.nats)
    try:
        if "error" in nc.request("$JS.API.STREAM.INFO.OBJ_quiver"):  # when run alone: the bucket's stream
            cfg = {"name": "OBJ_quiver", "subjects": ["$O.quiver.C.>", "$O.quiver.M.>"], "storage": "file",
                   "num_replicas": 3, "allow_rollup_hdrs": True, "allow_direct": True, "discard": "new"}
            assert "error" not in nc.request("$JS.API.STREAM.CREATE.OBJ_quiver", json.dumps(cfg).encode())
        nuid = "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(22))
        junk = b'{"format":"quiver-shard-snapshot"}\n'
        ack = nc.request(f"$O.quiver.C.{nuid}", junk)
        assert "seq" in ack, ack
        meta = {"name": f"{cid}/0", "bucket": "quiver", "nuid": nuid, "size": len(junk), "chunks": 1,
                "mtime": "2026-01-01T00:00:00Z",
                "digest": "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(b"other").digest()).decode(),
                "metadata": {"quiver-seq": str(s0["last_seq"]), "quiver-idh": "1", "quiver-id": "x",
                             "quiver-first-chunk": str(ack["seq"]), "quiver-records": "0"}}
        ack = nc.request(meta_subject(f"{cid}/0"), json.dumps(meta).encode(), headers={"Nats-Rollup": "sub"})
        assert "seq" in ack, ack
    finally:
        nc.close()
    new_id = next(f"n5x{i}" for i in range(1000) if "n5x%d" % i in placement(cluster.members + ["n5x%d" % i], cid, 0, 2))
    p5, url5, log5 = start_node(cluster, new_id)
    text = wait_replica(url5, cid, 0, s0["last_seq"])
    assert metric(text, "quiver_shard_snapshot_refused_total", cid, 0) >= 1, text
    assert metric(text, "quiver_shard_snapshot_restores_total", cid, 0) == 0
    assert metric(text, "quiver_shard_batches_applied_total", cid, 0) == s0["last_seq"]  # replayed the history
    log = open(log5).read()
    assert re.search(r"snapshot %s/0 \(sequence %d, object %s\) refused: digest mismatch" % (cid, s0["last_seq"], nuid),
                     log), log
    st, got, _ = call(f"{url5}{BASE}/collections/{cid}/get", "POST", {"include": ["embeddings"]},
                      headers={"X-Quiver-Consistency": "strong"})
    assert st == 200 and sorted(got["ids"]) == sorted(recs)
    stop_node(cluster, p5, new_id)


def test_kill9_in_the_middle_of_a_restore_restores_again(cluster):
    rng = random.Random(9)
    live = getattr(cluster, "urls_live", cluster.urls)
    st, obj, _ = call(live[0] + BASE + "/collections", "POST",
                      {"name": "snap3", "metadata": {"quiver:shards": 1, "quiver:replicas": 2}})
    assert st == 200, obj
    cid = obj["id"]
    n = 0
    for b in range(THRESHOLD + 2):  # big enough that a restore takes a while
        ids = [f"k{b}_{i}" for i in range(1500)]
        st, body, _ = call(f"{live[b % len(live)]}{BASE}/collections/{cid}/add", "POST",
                           {"ids": ids, "embeddings": [[rng.uniform(-1, 1) for _ in range(32)] for _ in ids]},
                           headers={"X-Quiver-Ack": "log"}, timeout=120)  # the machine may be busy
        assert st == 201, body
        n += len(ids)
    end = time.time() + 60
    while not (coll_status(cluster, cid)["shard"][0]["snapshot"] or {}).get("seq"):
        assert time.time() < end, coll_status(cluster, cid)
        time.sleep(0.5)
    new_id = next(f"n6x{i}" for i in range(1000) if "n6x%d" % i in placement(cluster.members + ["n6x%d" % i], cid, 0, 2))
    p6, url6, log6 = start_node(cluster, new_id)
    args = open(f"/proc/{p6.pid}/cmdline", "rb").read().split(b"\0")[:-1]
    end = time.time() + 60
    while f"{cid}/0: restoring snapshot" not in open(log6).read():
        assert time.time() < end and p6.poll() is None, open(log6).read()
        time.sleep(0.01)
    p6.kill()
    p6.wait(timeout=30)
    first = open(log6).read()
    assert f"{cid}/0: restored from snapshot" not in first, "the restore finished before the kill: make it bigger"
    # restart: the "pending" mark drops the partial collection and the restore runs again
    log = open(log6, "a")
    p = subprocess.Popen([a.decode() for a in args], stdout=log, stderr=subprocess.STDOUT)
    cluster.extra.append(p)
    last = coll_status(cluster, cid)["shard"][0]["last_seq"]
    text = wait_replica(url6, cid, 0, last, timeout=120)
    assert metric(text, "quiver_shard_snapshot_restores_total", cid, 0) == 1, text
    again = open(log6).read()[len(first):]
    assert f"{cid}/0 held here, resuming after stream sequence 0" in again, again
    assert f"{cid}/0: restored from snapshot" in again, again
    st, got, _ = call(f"{url6}{BASE}/collections/{cid}/count", headers={"X-Quiver-Consistency": "strong"})
    assert st == 200 and got == n
    # its own replica answers the same as the others
    st, a, _ = call(f"{url6}{BASE}/collections/{cid}/get", "POST", {"ids": ["k3_7", "k11_1499"], "include": ["embeddings"]},
                    headers={"X-Quiver-Consistency": "strong"})
    st, b, _ = call(f"{live[0]}{BASE}/collections/{cid}/get", "POST", {"ids": ["k3_7", "k11_1499"], "include": ["embeddings"]},
                    headers={"X-Quiver-Consistency": "strong"})
    assert a == b and a["ids"] == ["k3_7", "k11_1499"]
    stop_node(cluster, p, new_id)


def test_unusable_snapshot_without_the_history_is_reported_until_a_newer_one(cluster):
    rng = random.Random(3)
    live = getattr(cluster, "urls_live", cluster.urls)
    st, obj, _ = call(live[0] + BASE + "/collections", "POST",
                      {"name": "snap4", "metadata": {"quiver:shards": 1, "quiver:replicas": 2}})
    assert st == 200, obj
    cid = obj["id"]
    recs = {}

    def write(n, tag):
        for b in range(n):
            ids = [f"{tag}{b}_{i}" for i in range(4)]
            embs = [[rng.uniform(-1, 1) for _ in range(3)] for _ in ids]
            st, body, _ = call(f"{live[b % len(live)]}{BASE}/collections/{cid}/upsert", "POST",
                               {"ids": ids, "embeddings": embs})
            assert st == 200, body
            recs.update(zip(ids, embs))

    write(THRESHOLD + 5, "u")
    end = time.time() + 60
    while True:  # a snapshot, and the stream trimmed: the history before it is gone
        s0 = coll_status(cluster, cid)["shard"][0]
        if s0["snapshot"] and s0["first_seq"] > 1:
            break
        assert time.time() < end, s0
        time.sleep(0.3)
    # the latest snapshot replaced by one whose chunk is missing
    nc = Nats(cluster.nats)
    try:
        meta = {"name": f"{cid}/0", "bucket": "quiver", "nuid": "MISSINGMISSINGMISSING0", "size": 10, "chunks": 1,
                "mtime": "2026-01-01T00:00:00Z", "digest": "SHA-256=" + "A" * 43 + "=",
                "metadata": {"quiver-seq": str(s0["last_seq"]), "quiver-idh": "1", "quiver-id": "x",
                             "quiver-first-chunk": "1", "quiver-records": "0"}}
        ack = nc.request(meta_subject(f"{cid}/0"), json.dumps(meta).encode(), headers={"Nats-Rollup": "sub"})
        assert "seq" in ack, ack
    finally:
        nc.close()
    new_id = next(f"n8x{i}" for i in range(1000) if "n8x%d" % i in placement(cluster.members + ["n8x%d" % i], cid, 0, 2))
    p8, url8, log8 = start_node(cluster, new_id)
    end = time.time() + 60
    while "cannot catch up" not in open(log8).read():
        assert time.time() < end and p8.poll() is None, open(log8).read()
        time.sleep(0.3)
    log = open(log8).read()
    assert re.search(r"snapshot %s/0 \(sequence \d+, object MISSINGMISSINGMISSING0\) refused: chunk 1 of 1 missing" % cid,
                     log), log
    assert re.search(r"replica %s/0 cannot catch up: it needs stream sequence 1, the stream starts at %d" %
                     (cid, s0["first_seq"]), log), log
    # more writes: the taker stores a newer snapshot, and the new replica restores from it
    write(THRESHOLD + 2, "v")
    last = coll_status(cluster, cid)["shard"][0]["last_seq"]
    text = wait_replica(url8, cid, 0, last, timeout=90)
    assert metric(text, "quiver_shard_snapshot_restores_total", cid, 0) == 1, text
    assert metric(text, "quiver_shard_snapshot_refused_total", cid, 0) >= 1, text
    st, got, _ = call(f"{url8}{BASE}/collections/{cid}/get", "POST", {}, headers={"X-Quiver-Consistency": "strong"})
    assert st == 200 and sorted(got["ids"]) == sorted(recs)
    stop_node(cluster, p8, new_id)

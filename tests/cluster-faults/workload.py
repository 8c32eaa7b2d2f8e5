# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cluster-faults/workload.py -- a bounded mixed workload through the Chroma v2 HTTP API.

Several clients (threads), each with a home node, run add / upsert / delete / get / query
on one collection and record every invocation and completion in a JSONL history (Jepsen's
style): outcome "ok" for a 2xx, "fail" when the request was certainly not applied (the
connection was refused or never made, a 4xx), "unknown" otherwise (timeout, reset, 5xx).
A client moves to the next node after a failed or unknown request, and now and then sends
a request to another node on purpose, so read-your-writes is exercised across nodes.

Each client owns its keys (c<N>-<k>); a small shared key space (s-<k>) is written by every
client. Every written value is unique ("<client>.<op>.<key>") and is stored three times in
the record: as the document, in the metadata ({"v": value}) and as the embedding (a
deterministic function of the value); a read whose three copies disagree is recorded as
the value "CORRUPT:..." which the checker reports as a phantom.

Read-your-writes tokens: response headers whose names are listed in session_headers
(X-Quiver-Token: "shard:seq,...", docs/CLUSTER.md) are kept per client, merged, and sent
back on its later requests, so a read waits for the client's own writes on any node.
"""
import hashlib
import http.client
import json
import random
import socket
import threading
import time

T, D = "default_tenant", "default_database"
BASE = f"/api/v2/tenants/{T}/databases/{D}"
DIM = 8
INCLUDE = ["documents", "metadatas", "embeddings"]


def embedding(value):
    """A float32-exact vector derived from the value."""
    h = hashlib.sha256(value.encode()).digest()
    return [(h[i] - 128) / 128.0 for i in range(DIM)]


def decode_record(rid, doc, meta, emb):
    """A read record -> the value it holds, or 'CORRUPT:...' if its copies disagree."""
    v = (meta or {}).get("v")
    if doc != v or emb is None or len(emb) != DIM or \
            any(abs(a - b) > 1e-6 for a, b in zip(emb, embedding(doc or ""))):
        return f"CORRUPT:{rid}:{doc!r}:{v!r}"
    return v


def merge_token(old, new):
    """Read-your-writes tokens "shard:seq,..." (X-Quiver-Token) merge by the highest sequence
    per shard, so a token still covers the shards of earlier writes; anything else: the
    latest value."""
    try:
        seqs = {}
        for tok in (old or "", new):
            for part in filter(None, (x.strip() for x in tok.split(","))):
                k, q = part.split(":")
                seqs[int(k)] = max(seqs.get(int(k), 0), int(q))
        return ",".join(f"{k}:{q}" for k, q in sorted(seqs.items()))
    except ValueError:
        return new


class Outcome(Exception):
    def __init__(self, outcome, error, status=None):
        super().__init__(error)
        self.outcome, self.error, self.status = outcome, error, status


class Http:
    """One keep-alive connection to one node; classifies failures into fail/unknown."""

    def __init__(self, addr, timeout, token=None):
        self.host, self.port = addr
        self.timeout, self.token = timeout, token
        self.c = None

    def close(self):
        if self.c:
            self.c.close()
            self.c = None

    def call(self, method, path, body=None, headers=None):
        h = {"Content-Type": "application/json"}
        if self.token:
            h["x-chroma-token"] = self.token
        h.update(headers or {})
        if self.c is None:
            self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.c.connect()
            except OSError as e:  # nothing was sent
                self.close()
                raise Outcome("fail", f"connect: {e}")
        try:
            self.c.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers=h)
            r = self.c.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise Outcome("unknown", f"{type(e).__name__}: {e}")
        try:
            js = json.loads(data) if data else None
        except ValueError:
            js = None
        if 200 <= r.status < 300:
            return r.status, js, r.headers
        err = f"HTTP {r.status}: {data[:300].decode(errors='replace')}"
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        raise Outcome("fail" if 400 <= r.status < 500 else "unknown", err, r.status)


class History:
    """Thread-safe JSONL history writer."""

    def __init__(self, path, t_origin):
        self.f = open(path, "w")
        self.lock = threading.Lock()
        self.t_origin = t_origin
        self.next_id = 0

    def now(self):
        return time.monotonic() - self.t_origin

    def invoke(self, client, f, node, writes=None, deletes=None):
        with self.lock:
            self.next_id += 1
            i = self.next_id
            ev = {"type": "invoke", "id": i, "client": client, "f": f, "node": node,
                  "t": self.now()}
            if writes:
                ev["writes"] = writes
            if deletes:
                ev["deletes"] = deletes
            self.f.write(json.dumps(ev) + "\n")
            return i

    def complete(self, i, outcome, read=None, error=None, status=None, token=None):
        with self.lock:
            ev = {"type": "complete", "id": i, "outcome": outcome, "t": self.now()}
            if token:
                ev["token"] = token  # the write's shard:sequence list, for diagnosis
            if read is not None:
                ev["read"] = read
            if error:
                ev["error"] = error
            if status:
                ev["status"] = status
            self.f.write(json.dumps(ev) + "\n")

    def close(self):
        with self.lock:
            self.f.close()


def create_collection(addrs, name, timeout=10, deadline=60, token=None, extra=None):
    """get_or_create the collection through any node; returns its id."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        for a in addrs:
            try:
                body = {"name": name, "get_or_create": True,
                        "configuration": {"hnsw": {"space": "l2"}}}
                body.update(extra or {})
                _, js, _ = Http(a, timeout, token).call("POST", f"{BASE}/collections", body)
                return js["id"]
            except Outcome as e:
                last = e.error
        time.sleep(0.5)
    raise RuntimeError(f"could not create collection {name}: {last}")


class Client(threading.Thread):
    def __init__(self, cid, addrs, home, coll, hist, stop, n_ops, seed, timeout=5,
                 session_headers=(), shared_keys=8, token=None, pace=0.0):
        super().__init__(daemon=True, name=f"client-{cid}")
        self.cid, self.addrs, self.node = cid, addrs, home
        self.coll, self.hist, self.stop_ev = coll, hist, stop
        self.n_ops, self.rng = n_ops, random.Random(seed)
        self.timeout, self.session_headers = timeout, [h.lower() for h in session_headers]
        self.shared = [f"s-{i}" for i in range(shared_keys)]
        self.token, self.pace = token, pace
        self.conns = {}
        self.session = {}
        self.mine = []  # own keys ever added
        self.next_key = 0
        self.op_no = 0
        self.done = 0

    def http(self, node):
        if node not in self.conns:
            self.conns[node] = Http(self.addrs[node], self.timeout, self.token)
        return self.conns[node]

    def value(self, key):
        return f"c{self.cid}.{self.op_no}.{key}"

    def rec_body(self, kv):
        ids = list(kv)
        return {"ids": ids, "embeddings": [embedding(kv[k]) for k in ids],
                "documents": [kv[k] for k in ids],
                "metadatas": [{"v": kv[k], "c": self.cid} for k in ids]}

    def pick_op(self):
        x = self.rng.random()
        if x < 0.25 or len(self.mine) < 3:
            n = self.rng.randint(1, 4)
            keys = [f"c{self.cid}-{self.next_key + i}" for i in range(n)]
            self.next_key += n
            self.mine += keys
            return "add", keys
        pool = self.mine[-40:] + self.shared
        if x < 0.50:
            return "upsert", self.rng.sample(pool, min(len(pool), self.rng.randint(1, 3)))
        if x < 0.62:
            return "delete", self.rng.sample(pool, min(len(pool), self.rng.randint(1, 2)))
        if x < 0.90:
            return "get", self.rng.sample(pool, min(len(pool), self.rng.randint(1, 5)))
        return "query", [self.rng.choice(pool)]

    def run(self):
        path = f"{BASE}/collections/{self.coll}"
        while self.done < self.n_ops and not self.stop_ev.is_set():
            self.op_no += 1
            f, keys = self.pick_op()
            node = self.node
            if self.rng.random() < 0.15:
                node = self.rng.randrange(len(self.addrs))
            hdr = dict(self.session)
            writes = deletes = None
            if f in ("add", "upsert"):
                writes = {k: self.value(k) for k in keys}
                req = ("POST", f"{path}/{f}", self.rec_body(writes))
            elif f == "delete":
                deletes = keys
                req = ("POST", f"{path}/delete", {"ids": keys})
            elif f == "get":
                req = ("POST", f"{path}/get", {"ids": keys, "include": INCLUDE})
            else:
                # the embedding of a value once written to the key: near that record
                q = embedding(f"c{self.cid}.{self.rng.randint(1, self.op_no)}.{keys[0]}")
                req = ("POST", f"{path}/query", {"query_embeddings": [q], "n_results": 4,
                                                  "include": INCLUDE})
            i = self.hist.invoke(self.cid, f, node, writes, deletes)
            try:
                status, js, headers = self.http(node).call(*req, headers=hdr)
            except Outcome as e:
                self.hist.complete(i, e.outcome, error=e.error, status=e.status)
                self.node = (self.node + 1) % len(self.addrs)
                self.done += 1
                time.sleep(0.05)
                continue
            read = None
            if f == "get":
                read = {k: None for k in keys}
                for j, rid in enumerate(js.get("ids") or []):
                    read[rid] = decode_record(rid, js["documents"][j], js["metadatas"][j],
                                              js["embeddings"][j])
            elif f == "query":
                read = {}
                for j, rid in enumerate((js.get("ids") or [[]])[0]):
                    read[rid] = decode_record(rid, js["documents"][0][j],
                                              js["metadatas"][0][j], js["embeddings"][0][j])
            for h in self.session_headers:
                v = headers.get(h)
                if v is not None:
                    self.session[h] = merge_token(self.session.get(h), v)
            self.hist.complete(i, "ok", read=read, status=status,
                               token=headers.get("X-Quiver-Token") if writes or deletes else None)
            self.done += 1
            if self.pace:
                time.sleep(self.pace)
        for c in self.conns.values():
            c.close()


def read_all(addr, coll, timeout=30, page=500, token=None, headers=None):
    """Every record of the collection through one node, {id: value}."""
    h = Http(addr, timeout, token)
    out, off = {}, 0
    for _ in range(100000):
        _, js, _ = h.call("POST", f"{BASE}/collections/{coll}/get",
                          {"limit": page, "offset": off, "include": INCLUDE}, headers)
        ids = js.get("ids") or []
        for j, rid in enumerate(ids):
            out[rid] = decode_record(rid, js["documents"][j], js["metadatas"][j],
                                     js["embeddings"][j])
        if len(ids) < page:
            break
        off += len(ids)
    h.close()
    return out


def read_keys(addr, coll, keys, timeout=60, batch=1000, token=None, headers=None):
    """The records of the given ids through one node, {id: value}, then a count: when the
    collection holds more records than were found (ids nobody wrote), the whole collection
    is read page by page instead (read_all), so nothing escapes the checker. Reading by ids
    costs O(n); paging with offsets costs O(n^2) on a sharded cluster (every shard is asked
    for offset + limit records)."""
    h = Http(addr, timeout, token)
    out = {}
    keys = sorted(keys)
    for i in range(0, len(keys), batch):
        _, js, _ = h.call("POST", f"{BASE}/collections/{coll}/get",
                          {"ids": keys[i:i + batch], "include": INCLUDE}, headers)
        for j, rid in enumerate(js.get("ids") or []):
            out[rid] = decode_record(rid, js["documents"][j], js["metadatas"][j],
                                     js["embeddings"][j])
    _, n, _ = h.call("GET", f"{BASE}/collections/{coll}/count", None, headers)
    h.close()
    if n != len(out):
        return read_all(addr, coll, timeout, 500, token, headers)
    return out


def wait_http(addr, deadline, path="/api/v2/heartbeat"):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            c = http.client.HTTPConnection(*addr, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return True
        except (OSError, http.client.HTTPException, socket.timeout):
            pass
        time.sleep(0.2)
    return False

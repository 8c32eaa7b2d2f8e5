# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/server/test_server.py -- drives a live `quiver serve` over HTTP (stdlib only).

Every route of the Chroma v2 API the server implements, every error status it produces,
auth on and off, malformed and oversized input, the data-directory lock and a clean
SIGTERM shutdown followed by a restart with the data intact.

The binary is $QUIVER_BIN (default build/quiver, relative to the repository root).
Run: /usr/bin/python3 -m pytest -q tests/server
"""
import base64
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("QUIVER_BIN", os.path.join(ROOT, "build", "quiver"))
if not os.path.exists(BIN):  # a suite that cannot run fails; it never skips itself
    pytest.fail(f"{BIN} not built (build it, or point QUIVER_BIN at the binary)", pytrace=False)
T, D = "default_tenant", "default_database"
BASE = f"/api/v2/tenants/{T}/databases/{D}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `quiver serve` child process on a free port."""

    def __init__(self, data, *extra, env=None):
        self.data, self.port = data, free_port()
        self.log = open(os.path.join(os.path.dirname(data), f"server-{self.port}.log"), "w+")
        e = dict(os.environ)
        e.pop("QUIVER_TOKEN", None)
        e.pop("CHROMA_SERVER_AUTHN_CREDENTIALS", None)
        e.update(env or {})
        self.proc = subprocess.Popen(
            [BIN, "serve", "--data", data, "--port", str(self.port), "--log-level", "warn", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.wait_ready()

    def wait_ready(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.output())
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/api/v2/heartbeat")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start: " + self.output())

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def client(self, **kw):
        return Client(self.port, **kw)


class Client:
    """Keep-alive JSON client; returns (status, body, headers)."""

    def __init__(self, port, token=None, header="x-chroma-token"):
        self.port, self.token, self.header = port, token, header
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def req(self, method, path, body=None, raw=None, headers=None):
        h = dict(headers or {})
        if self.token is not None:
            h[self.header] = self.token if self.header != "Authorization" else "Bearer " + self.token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                text = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        ctype = r.getheader("Content-Type", "")
        parsed = json.loads(text) if text and ctype.startswith("application/json") else text
        return r.status, parsed, r

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body, **kw)


@pytest.fixture(scope="module")
def tmp():
    with tempfile.TemporaryDirectory(prefix="quiver-srv-") as d:
        yield d


@pytest.fixture(scope="module")
def srv(tmp):
    s = Server(os.path.join(tmp, "data"), "--max-body", "1M", "--allow-reset")
    yield s
    assert s.stop() == 0


@pytest.fixture
def cl(srv):
    return srv.client()


def make_coll(cl, name=None, **body):
    name = name or "c-" + uuid.uuid4().hex[:10]
    st, b, _ = cl.post(BASE + "/collections", {"name": name, **body})
    assert st == 200, b
    return b


def add3(cl, cid):
    st, b, _ = cl.post(f"{BASE}/collections/{cid}/add", {
        "ids": ["a", "b", "c"], "embeddings": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        "metadatas": [{"k": 1, "tag": "x"}, {"k": 2, "tag": "y"}, {"k": 3, "tag": "x"}],
        "documents": ["doc a", "doc b", "doc c"]})
    assert st == 201, b


def b64(vec):
    return base64.b64encode(struct.pack("<%df" % len(vec), *vec)).decode()


# ------------------------------------------------------------------ system routes

def test_heartbeat_and_alias(cl):
    for p in ("/api/v2/heartbeat", "/api/v2"):
        st, b, r = cl.get(p)
        assert st == 200 and r.getheader("Content-Type") == "application/json"
        assert abs(b["nanosecond heartbeat"] / 1e9 - time.time()) < 60


def test_version_preflight_identity_health(cl):
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True, check=True).stdout
    assert cl.get("/api/v2/version")[:2] == (200, out.split()[1])  # quiver's, as Chroma's is
    st, b, _ = cl.get("/api/v2/pre-flight-checks")
    assert st == 200 and b["max_batch_size"] > 0 and b["supports_base64_encoding"] is True
    st, b, _ = cl.get("/api/v2/auth/identity")
    assert b == {"user_id": "", "tenant": T, "databases": [D]}
    assert cl.get("/api/v2/healthcheck")[1]["is_executor_ready"] is True


def test_healthcheck_reads_the_database(tmp_path):
    """/healthcheck answers from the disk, not a constant: with the database file moved away
    it says 503 and names the file; put back, it is ready again (issue 15)."""
    data = str(tmp_path / "data")
    s = Server(data)
    try:
        cl = s.client()
        st, b, _ = cl.get("/api/v2/healthcheck")
        assert st == 200 and b == {"is_executor_ready": True, "is_log_client_ready": True}
        db, moved = os.path.join(data, "quiver.db"), os.path.join(data, "quiver.db.moved")
        os.rename(db, moved)
        st, b, _ = cl.get("/api/v2/healthcheck")
        assert st == 503 and "quiver.db" in b["message"], (st, b)
        assert cl.get("/api/v2/heartbeat")[0] == 200  # liveness is not readiness
        os.rename(moved, db)
        assert cl.get("/api/v2/healthcheck")[0] == 200
    finally:
        assert s.stop() == 0


def test_unknown_routes_and_methods(cl):
    for p in ("/nope", "/api/v2/nothing", BASE + "/collections/x/y/z/w", "/api/v3/heartbeat"):
        st, b, r = cl.get(p)
        assert st == 404 and r.getheader("Content-Type") == "application/json" and "message" in b
    st, b, _ = cl.req("DELETE", "/api/v2/version")
    assert st == 405 and b["error"]
    st, b, _ = cl.get("/api/v1/heartbeat")
    assert st == 410 and b["error"] == "Unimplemented"
    assert cl.req("PATCH", BASE + "/collections")[0] == 405


def test_metrics(cl):
    cl.get("/api/v2/heartbeat")
    st, text, r = cl.get("/metrics")
    assert st == 200 and r.getheader("Content-Type").startswith("text/plain")
    text = text.decode()
    assert 'quiver_http_requests_total{route="heartbeat",status="200"}' in text
    assert "quiver_http_request_duration_seconds_bucket" in text
    assert "quiver_process_resident_memory_bytes" in text and "quiver_records " in text


# ------------------------------------------------------------------ tenants and databases

def test_tenants(cl):
    st, b, _ = cl.get(f"/api/v2/tenants/{T}")
    assert st == 200 and b == {"name": T, "resource_name": None}
    assert cl.get("/api/v2/tenants/no_such_tenant")[0] == 404
    name = "ten-" + uuid.uuid4().hex[:6]
    assert cl.post("/api/v2/tenants", {"name": name})[:2] == (200, {})
    assert cl.post("/api/v2/tenants", {"name": name})[0] == 409
    assert cl.post("/api/v2/tenants", {"name": "ab"})[0] == 400
    assert cl.post("/api/v2/tenants", {})[0] == 422
    assert cl.post("/api/v2/tenants", {"name": 5})[0] == 422


def test_databases(cl):
    ten = "ten-" + uuid.uuid4().hex[:6]
    cl.post("/api/v2/tenants", {"name": ten})
    p = f"/api/v2/tenants/{ten}/databases"
    assert cl.post(p, {"name": "db-one"})[:2] == (200, {})
    assert cl.post(p, {"name": "db-two"})[0] == 200
    assert cl.post(p, {"name": "db-one"})[0] == 409
    assert cl.post(p, {"name": "-bad-"})[0] == 400
    assert cl.post(p, {"name": "a..b"})[0] == 400
    assert cl.post(p, {"name": "10.0.0.1"})[0] == 400
    assert cl.post("/api/v2/tenants/no_such/databases", {"name": "dbx"})[0] == 404
    st, b, _ = cl.get(p + "?limit=100&offset=0")
    assert st == 200 and [d["name"] for d in b] == ["db-one", "db-two"]
    assert all(d["tenant"] == ten and len(d["id"]) == 36 for d in b)
    assert [d["name"] for d in cl.get(p + "?limit=1&offset=1")[1]] == ["db-two"]
    assert cl.get(p + "?limit=x")[0] == 400
    st, b, _ = cl.get(p + "/db-one")
    assert st == 200 and b["name"] == "db-one" and b["tenant"] == ten
    assert cl.get(p + "/ab")[0] == 400
    assert cl.get(p + "/nope")[0] == 404
    st, b, _ = cl.get(f"/api/v2/tenants/{T}/databases/{D}")
    assert b["id"] == "00000000-0000-0000-0000-000000000000"
    # a collection in the database goes away with it
    st, coll, _ = cl.post(p + "/db-one/collections", {"name": "inner"})
    assert st == 200 and coll["tenant"] == ten and coll["database"] == "db-one"
    assert cl.req("DELETE", p + "/db-one")[:2] == (200, {})
    assert cl.req("DELETE", p + "/db-one")[0] == 404
    assert cl.get(p + "/db-one/collections/inner")[0] == 404
    assert cl.post(p + "/db-one/collections", {"name": "inner"})[0] == 400  # no such database


# ------------------------------------------------------------------ collections

def test_collection_create_get_list(cl):
    name = "coll-" + uuid.uuid4().hex[:6]
    c = make_coll(cl, name, metadata={"owner": "me", "n": 2})
    assert c["name"] == name and c["dimension"] is None and c["metadata"] == {"owner": "me", "n": 2}
    assert c["configuration_json"]["hnsw"]["space"] == "l2" and c["tenant"] == T
    assert c["configuration_json"]["embedding_function"] is None and c["schema"] is None
    assert cl.post(BASE + "/collections", {"name": name})[0] == 409
    st, again, _ = cl.post(BASE + "/collections", {"name": name, "get_or_create": True,
                                                   "metadata": {"other": 1}})
    assert st == 200 and again["id"] == c["id"] and again["metadata"] == {"owner": "me", "n": 2}
    assert cl.get(f"{BASE}/collections/{name}")[1]["id"] == c["id"]
    assert cl.get(f"{BASE}/collections/by-id/{c['id']}")[1]["name"] == name
    st, lst, _ = cl.get(BASE + "/collections?limit=100&offset=0")
    assert st == 200 and name in [x["name"] for x in lst]
    n = cl.get(BASE + "/collections_count")[1]
    assert isinstance(n, int) and n == len(lst)
    assert len(cl.get(BASE + "/collections?limit=1")[1]) == 1


def test_collection_configuration(cl):
    ef = {"type": "known", "name": "default", "config": {}}
    c = make_coll(cl, configuration={"hnsw": {"space": "cosine", "ef_construction": 50,
                                              "ef_search": 40, "max_neighbors": 8,
                                              "resize_factor": 1.5}, "embedding_function": ef})
    h = c["configuration_json"]["hnsw"]
    assert (h["space"], h["ef_construction"], h["ef_search"], h["max_neighbors"]) == ("cosine", 50, 40, 8)
    assert h["resize_factor"] == 1.5 and "num_threads" not in h
    assert c["configuration_json"]["embedding_function"] == ef and c["metadata"] is None
    legacy = make_coll(cl, metadata={"hnsw:space": "ip"})
    assert legacy["configuration_json"]["hnsw"]["space"] == "ip"
    assert legacy["metadata"] == {"hnsw:space": "ip"}
    flat = make_coll(cl, configuration={"index": "flat"})
    assert cl.get(f"{BASE}/collections/{flat['id']}/stats")[1]["index"] == "flat"
    ivf = make_coll(cl, configuration={"index": "ivf"})  # a kind the server never names
    assert cl.get(f"{BASE}/collections/{ivf['id']}/stats")[1]["index"] == "ivf"
    bad = [({"configuration": {"hnsw": {"space": "nope"}}}, 422),
           ({"configuration": {"hnsw": {"foo": 1}}}, 422),
           ({"configuration": {"hnsw": {}, "spann": {}}}, 400),
           ({"configuration": {"index": "ivf9"}}, 400),
           ({"metadata": {}}, 400), ({"metadata": {"hnsw:bogus": 1}}, 400),
           ({"metadata": "x"}, 422)]
    for extra, status in bad:
        st, b, _ = cl.post(BASE + "/collections", {"name": "cfg-" + uuid.uuid4().hex[:6], **extra})
        assert st == status, (extra, b)


def test_collection_compact(cl):
    """Native: POST …/{id}/compact rebuilds the graph without the tombstones deletes left
    (automatic past half the live records; this asks for it any time) and answers the stats."""
    c = make_coll(cl)
    p = f"{BASE}/collections/{c['id']}"
    ids = [str(i) for i in range(600)]
    assert cl.post(p + "/add", {"ids": ids, "embeddings": [[i, i % 7, -i, 1] for i in range(600)]})[0] == 201
    assert cl.post(p + "/delete", {"ids": ids[:100]})[0] == 200
    assert cl.get(p + "/stats")[1]["n_tombstones"] == 100
    st, b, _ = cl.post(p + "/compact")
    assert st == 200, b
    assert (b["n_tombstones"], b["count"], b["id"]) == (0, 500, c["id"])
    r = cl.post(p + "/query", {"query_embeddings": [[300, 300 % 7, -300, 1]], "n_results": 1})[1]
    assert r["ids"] == [["300"]]
    assert cl.post(p + "/delete", {"ids": ids[100:200]})[0] == 200
    text = cl.get("/metrics")[1].decode()
    assert f'quiver_collection_tombstones{{collection="default_tenant/default_database/{c["name"]}"}} 100' in text
    assert cl.get(p + "/compact")[0] == 405
    assert cl.post(f"{BASE}/collections/{uuid.uuid4()}/compact")[0] == 404


def test_collection_names_validated(cl):
    for name in ("ab", "-abc", "abc-", "a..bc", "192.168.0.1", "a b c", "x" * 513, "a/bc"):
        st, b, _ = cl.post(BASE + "/collections", {"name": name})
        assert st == 400, name
    assert cl.get(BASE + "/collections/a%2Fb%2Fc")[0] == 404


def test_collection_modify_delete(cl):
    c = make_coll(cl)
    cid, name = c["id"], c["name"]
    new = name + "-x"
    st, b, _ = cl.req("PUT", f"{BASE}/collections/{cid}", {
        "new_name": new, "new_metadata": {"m": 1},
        "new_configuration": {"hnsw": {"ef_search": 77}}})
    assert (st, b) == (200, {})
    g = cl.get(f"{BASE}/collections/{new}")[1]
    assert g["metadata"] == {"m": 1} and g["configuration_json"]["hnsw"]["ef_search"] == 77
    assert cl.get(f"{BASE}/collections/{name}")[0] == 404
    other = make_coll(cl)
    assert cl.req("PUT", f"{BASE}/collections/{cid}", {"new_name": other["name"]})[0] == 409
    assert cl.req("PUT", f"{BASE}/collections/{cid}", {"new_metadata": {}})[0] == 400
    assert cl.req("PUT", f"{BASE}/collections/{cid}", {"new_name": "x"})[0] == 400
    assert cl.req("PUT", f"{BASE}/collections/{cid}",
                  {"new_configuration": {"hnsw": {"ef_construction": 5}}})[0] == 422
    assert cl.req("PUT", f"{BASE}/collections/not-a-uuid", {})[0] == 400
    assert cl.req("PUT", f"{BASE}/collections/{uuid.uuid4()}", {})[0] == 404
    assert cl.req("DELETE", f"{BASE}/collections/{new}")[:2] == (200, {})
    assert cl.req("DELETE", f"{BASE}/collections/{new}")[0] == 404
    assert cl.get(f"{BASE}/collections/{cid}/count")[0] == 404


def test_collection_not_visible_from_other_database(cl):
    c = make_coll(cl)
    ten = "ten-" + uuid.uuid4().hex[:6]
    cl.post("/api/v2/tenants", {"name": ten})
    cl.post(f"/api/v2/tenants/{ten}/databases", {"name": D})
    other = f"/api/v2/tenants/{ten}/databases/{D}"
    assert cl.get(f"{other}/collections/{c['id']}/count")[0] == 404
    assert cl.get(f"{other}/collections/{c['name']}")[0] == 404
    assert cl.get(f"{other}/collections_count")[1] == 0


# ------------------------------------------------------------------ records

def test_add_get_query_count(cl):
    c = make_coll(cl)
    cid = c["id"]
    add3(cl, cid)
    assert cl.get(f"{BASE}/collections/by-id/{cid}")[1]["dimension"] == 3
    assert cl.get(f"{BASE}/collections/{cid}/count")[1] == 3
    st, r, _ = cl.post(f"{BASE}/collections/{cid}/query", {
        "query_embeddings": [[1, 0.1, 0]], "n_results": 2, "where": {"tag": "x"},
        "include": ["metadatas", "documents", "distances"]})
    assert st == 200 and r["ids"] == [["a", "c"]] and r["embeddings"] is None
    assert r["documents"] == [["doc a", "doc c"]] and r["metadatas"][0][0] == {"k": 1, "tag": "x"}
    assert abs(r["distances"][0][0] - 0.01) < 1e-5 and abs(r["distances"][0][1] - 2.01) < 1e-5
    assert r["include"] == ["metadatas", "documents", "distances"]
    st, r, _ = cl.post(f"{BASE}/collections/{cid}/get", {"ids": ["a", "b", "zz"],
                                                         "include": ["documents", "embeddings"]})
    assert sorted(r["ids"]) == ["a", "b"] and r["metadatas"] is None and r["uris"] is None
    assert r["embeddings"][r["ids"].index("a")] == [1, 0, 0]
    st, r, _ = cl.post(f"{BASE}/collections/{cid}/get", {})
    assert r["ids"] == ["a", "b", "c"] and r["include"] == ["documents", "metadatas"]
    st, r, _ = cl.post(f"{BASE}/collections/{cid}/get", {"limit": 1, "offset": 1})
    assert r["ids"] == ["b"]
    st, r, _ = cl.post(f"{BASE}/collections/{cid}/get", {"where": {"k": {"$gte": 2}},
                                                         "where_document": {"$contains": "doc"}})
    assert r["ids"] == ["b", "c"]
    st, r, _ = cl.post(f"{BASE}/collections/{cid}/get", {"include": []})
    assert r["ids"] == ["a", "b", "c"] and r["documents"] is None and r["include"] == []


def test_query_shapes(cl):
    c = make_coll(cl)
    cid = c["id"]
    add3(cl, cid)
    q = f"{BASE}/collections/{cid}/query"
    st, r, _ = cl.post(q, {"query_embeddings": [[1, 0, 0], [0, 0, 1]], "n_results": 10})
    assert [len(x) for x in r["ids"]] == [3, 3] and r["ids"][1][0] == "c"
    assert r["include"] == ["documents", "metadatas", "distances"]
    st, r, _ = cl.post(q, {"query_embeddings": [[1, 0, 0]], "n_results": 5, "ids": ["b", "c"],
                           "include": ["embeddings", "distances"]})
    assert r["ids"] == [["b", "c"]] and r["embeddings"][0][0] == [0, 1, 0]
    assert r["distances"] == [[2, 2]] and r["documents"] is None
    st, r, _ = cl.post(q, {"query_embeddings": [[1, 0, 0]], "n_results": 2,
                           "where": {"tag": "nope"}})
    assert r["ids"] == [[]]
    st, r, _ = cl.post(q, {"query_embeddings": [[1, 0, 0]], "n_results": 1, "ef_search": 10,
                           "exact": True})
    assert r["ids"] == [["a"]]
    empty = make_coll(cl)
    st, r, _ = cl.post(f"{BASE}/collections/{empty['id']}/query",
                       {"query_embeddings": [[1, 2]], "n_results": 3})
    assert st == 200 and r["ids"] == [[]]


def test_write_fast_path_matches_general_path(cl):
    """add/upsert bodies of the common shape are decoded without Jansson for their floats
    (server/chroma/query_fast.c, rec_write_fast); the same batch with its first id written as
    a JSON escape (which that reader refuses) takes the general path. Two collections fed
    the two forms must hold the same records (ids, embeddings, metadata, documents), and a bad
    batch must get the same status and error from both."""
    import random
    rnd = random.Random(11)
    dim = 8
    a, b = make_coll(cl), make_coll(cl)
    texts = ["1e-40", "-0.0", "0.1000000000000000055511151231257827", "7E+2", "-2.5e-3", "0", "12", "9.999999e-1",
             "0.0", "255.0", "1234567.0", "12345678.0", "16777217", "3.05", "3.0e1", "3.00", "100"]

    def num():
        return rnd.choice(texts) if rnd.random() < 0.3 else repr(rnd.uniform(-1e3, 1e3))

    def bodies(ids, with_meta, with_docs):
        rows = ["[" + ",".join(num() for _ in range(dim)) + "]" for _ in ids]
        parts = ['"embeddings": [%s]' % ",".join(rows)]
        if with_meta:
            metas = [rnd.choice(['null', '{"k": %d, "t": "x\\u00e9"}' % rnd.randrange(9), '{"f": 1.5, "b": true}'])
                     for _ in ids]
            parts.append('"metadatas": [%s]' % ",".join(metas))
        else:
            parts.append('"metadatas": null')
        if with_docs:
            parts.append('"documents": [%s]' % ",".join(rnd.choice(['null', '"doc %d"' % i]) for i in range(len(ids))))
        parts.append('"uris": null')
        rnd.shuffle(parts)
        fast = '{"ids": [%s], %s}' % (",".join('"%s"' % i for i in ids), ", ".join(parts))
        esc = "\\u%04x" % ord(ids[0][0]) + ids[0][1:]
        slow = '{"ids": [%s], %s}' % (",".join(['"%s"' % esc] + ['"%s"' % i for i in ids[1:]]), ", ".join(parts))
        return fast, slow

    for batch in range(6):
        ids = ["r%d" % rnd.randrange(60) for _ in range(25)]  # repeats: deduplicated alike
        fast, slow = bodies(ids, batch % 2 == 0, batch % 3 != 1)
        op = "upsert" if batch >= 4 else "add"
        s1, r1, _ = cl.req("POST", f"{BASE}/collections/{a['id']}/{op}", raw=fast.encode())
        s2, r2, _ = cl.req("POST", f"{BASE}/collections/{b['id']}/{op}", raw=slow.encode())
        assert s1 == s2 and s1 in (200, 201), (r1, r2)
    got = []
    for c in (a, b):
        st, r, _ = cl.post(f"{BASE}/collections/{c['id']}/get",
                           {"include": ["embeddings", "metadatas", "documents"], "limit": 1000})
        assert st == 200, r
        got.append(sorted(zip(r["ids"], r["embeddings"], [json.dumps(m, sort_keys=True) for m in r["metadatas"]],
                              r["documents"])))
    assert len(got[0]) > 20 and got[0] == got[1]

    bad = [
        '{"ids": ["x", "y"], "embeddings": [[1,2,3,4,5,6,7,8]]}',                          # counts differ
        '{"ids": ["x"], "embeddings": [[1,2,3,4,5,6,7,8]], "documents": ["a", "b"]}',      # counts differ
        '{"ids": ["x", ""], "embeddings": [[1,2,3,4,5,6,7,8], [1,2,3,4,5,6,7,8]]}',        # empty id
        '{"ids": ["x", "y"], "embeddings": [[1,2,3,4,5,6,7,8], [1,2]]}',                   # ragged
        '{"ids": ["x"], "embeddings": [[1,2,3]]}',                                         # wrong dim
        '{"ids": ["x"], "embeddings": [[1,2,3,4,5,6,7,8]], "metadatas": [{"k": null}]}',   # null value in add
        '{"ids": ["x"], "embeddings": [[1,2,3,4,5,6,7,8]], "metadatas": [{"k": {"a": 1}}]}',  # nested
        '{"ids": ["x"], "embeddings": [[1,2,3,4,5,6,7,8]], "metadatas": [{"k": 1}, {"k": 2}]}',  # counts
        '{"ids": ["x"], "embeddings": [[1,2,3,4,5,6,7,1e999]]}',                           # not finite
    ]
    for body in bad:
        slow = body.replace('"ids": ["x"', '"ids": ["\\u0078"', 1).replace('"ids": ["x",', '"ids": ["\\u0078",', 1)
        assert slow != body
        s1, r1, _ = cl.req("POST", f"{BASE}/collections/{a['id']}/add", raw=body.encode())
        s2, r2, _ = cl.req("POST", f"{BASE}/collections/{b['id']}/add", raw=slow.encode())
        assert s1 == s2 and s1 >= 400, (body, r1, r2)
        assert r1["error"] == r2["error"], (body, r1, r2)


def test_query_fast_path_matches_general_path(cl):
    """The common query body is decoded without Jansson (server/query_fast.c); a key it does
    not take ("exact": false, the default) sends the same query down the general path. Both
    must give the same answer (ids, distances, embeddings), over awkward numbers: exponents,
    many digits, negative zero, subnormals. "ids"/"where"/"where_document": null, as clients
    that send every field do, stay on the fast path and mean what absent means."""
    import random
    rnd = random.Random(7)
    dim = 16
    c = make_coll(cl)
    cid = c["id"]
    vecs = [[rnd.uniform(-1e3, 1e3) for _ in range(dim)] for _ in range(200)]
    st, b, _ = cl.post(f"{BASE}/collections/{cid}/add",
                       {"ids": [str(i) for i in range(200)], "embeddings": vecs})
    assert st == 201, b
    texts = ["1e-40", "-0.0", "3.4028234663852886e38", "0.1000000000000000055511151231257827",
             "1234567890123456789.0", "123456789012345678901234567890", "7E+2", "-2.5e-3", "0", "1.17549435e-38", "9.999999e-1"]
    q = f"{BASE}/collections/{cid}/query"
    ok = 0
    for trial in range(30):
        nums = [rnd.choice(texts) if rnd.random() < 0.4 else repr(rnd.uniform(-1e3, 1e3))
                for _ in range(dim)]
        row = "[" + ",".join(nums) + "]"
        inc = '["distances","embeddings"]' if trial % 2 else '["distances"]'
        fast = '{"query_embeddings": [%s], "n_results": 5, "include": %s}' % (row, inc)
        slow = '{"exact": false, "query_embeddings": [%s], "n_results": 5, "include": %s}' % (row, inc)
        nulls = ('{"ids": null, "query_embeddings": [%s], "where" : null, "n_results": 5, '
                 '"include": %s, "where_document":null}' % (row, inc))
        s1, r1, _ = cl.req("POST", q, raw=fast.encode())
        s2, r2, _ = cl.req("POST", q, raw=slow.encode())
        s3, r3, _ = cl.req("POST", q, raw=nulls.encode())
        assert s1 == s2 == s3, (fast, r1, r2, r3)
        if s1 == 200:
            assert r1 == r2 == r3, fast
            ok += 1
        else:  # the same error (its column differs: the slow body is longer)
            assert r1["error"] == r2["error"] == r3["error"], (r1, r2, r3)
    assert ok >= 5  # most rows parse (a huge integer literal is a 400 on both paths)


def test_distances_per_space(cl):
    for space, want in (("l2", 0.01), ("ip", 0.0), ("cosine", 1 - 1 / 1.01 ** 0.5)):
        c = make_coll(cl, configuration={"hnsw": {"space": space}})
        cl.post(f"{BASE}/collections/{c['id']}/add", {"ids": ["v"], "embeddings": [[1, 0, 0]]})
        r = cl.post(f"{BASE}/collections/{c['id']}/query",
                    {"query_embeddings": [[1, 0.1, 0]], "n_results": 1})[1]
        assert abs(r["distances"][0][0] - want) < 1e-4, space


def test_base64_and_uris(cl):
    c = make_coll(cl)
    cid = c["id"]
    st, b, _ = cl.post(f"{BASE}/collections/{cid}/add", {
        "ids": ["x", "y"], "embeddings": [b64([1, 2, 3]), b64([0.5, -1, 1e-3])],
        "uris": ["s3://x", None], "metadatas": [None, {"m": True}]})
    assert st == 201, b
    r = cl.post(f"{BASE}/collections/{cid}/get", {"include": ["embeddings", "uris", "metadatas"]})[1]
    assert r["embeddings"][0] == [1, 2, 3] and abs(r["embeddings"][1][2] - 1e-3) < 1e-9
    assert r["uris"] == ["s3://x", None] and r["metadatas"] == [None, {"m": True}]
    for bad in ("AAA", "AAAA", "!!!!", b64([1, 2])):
        st, b, _ = cl.post(f"{BASE}/collections/{cid}/add", {"ids": ["z"], "embeddings": [bad]})
        assert st == 400, bad
    nan = base64.b64encode(struct.pack("<3f", float("nan"), 0, 0)).decode()
    assert cl.post(f"{BASE}/collections/{cid}/add", {"ids": ["z"], "embeddings": [nan]})[0] == 400


def test_add_is_idempotent_and_upsert_update_merge(cl):
    c = make_coll(cl)
    cid = c["id"]
    add3(cl, cid)
    p = f"{BASE}/collections/{cid}"
    st, b, _ = cl.post(p + "/add", {"ids": ["a", "d", "d"], "embeddings": [[9, 9, 9], [0, 1, 1], [1, 1, 1]],
                                    "documents": ["new a", "doc d", "dup"]})
    assert st == 201, b
    r = cl.post(p + "/get", {"ids": ["a", "d"], "include": ["documents", "embeddings"]})[1]
    got = dict(zip(r["ids"], r["documents"]))
    assert got == {"a": "doc a", "d": "doc d"}
    st, b, _ = cl.post(p + "/upsert", {"ids": ["a", "e"], "embeddings": [[1, 1, 0], [0, 0, 2]],
                                       "metadatas": [{"extra": "yes"}, {"k": 5}]})
    assert (st, b) == (200, {})
    r = cl.post(p + "/get", {"ids": ["a", "e"]})[1]
    got = dict(zip(r["ids"], r["metadatas"]))
    assert got["a"] == {"k": 1, "tag": "x", "extra": "yes"} and got["e"] == {"k": 5}
    st, b, _ = cl.post(p + "/update", {"ids": ["b", "zz"], "documents": ["B!", "ghost"],
                                       "metadatas": [{"tag": None, "k": 20}, None]})
    assert (st, b) == (200, {})
    r = cl.post(p + "/get", {"ids": ["b", "zz"]})[1]
    assert r["ids"] == ["b"] and r["documents"] == ["B!"] and r["metadatas"] == [{"k": 20}]
    st, b, _ = cl.post(p + "/update", {"ids": ["b", "c"], "embeddings": [[5, 5, 5], None]})
    assert st == 200, b
    r = cl.post(p + "/get", {"ids": ["b", "c"], "include": ["embeddings"]})[1]
    got = dict(zip(r["ids"], r["embeddings"]))
    assert got == {"b": [5, 5, 5], "c": [0, 0, 1]}
    assert cl.get(p + "/count")[1] == 5


def test_delete_semantics(cl):
    c = make_coll(cl)
    p = f"{BASE}/collections/{c['id']}"
    add3(cl, c["id"])
    assert cl.post(p + "/delete", {})[:2] == (200, {"deleted": 0})
    assert cl.post(p + "/delete", {"ids": ["a", "nope"]})[1] == {"deleted": 2}
    assert cl.post(p + "/delete", {"ids": []})[0] == 400
    assert cl.post(p + "/delete", {"limit": 1})[0] == 400
    assert cl.post(p + "/delete", {"where": {"tag": "x"}})[1] == {"deleted": 1}
    assert cl.get(p + "/count")[1] == 1
    assert cl.post(p + "/delete", {"where": {"$bad": 1}})[0] == 400


def test_record_errors(cl):
    c = make_coll(cl)
    p = f"{BASE}/collections/{c['id']}"
    add3(cl, c["id"])
    cases = [
        ("add", {"ids": ["d"], "embeddings": [[1, 0, 0, 0]]}, 400),          # dimension mismatch
        ("add", {"ids": ["d", "e"], "embeddings": [[1, 0, 0], [1, 0]]}, 400),  # inconsistent dims
        ("add", {"ids": ["d"], "embeddings": [[1, 0, 0]], "documents": ["x", "y"]}, 400),
        ("add", {"ids": [""], "embeddings": [[1, 0, 0]]}, 400),
        ("add", {"ids": ["d"], "embeddings": [[]]}, 400),
        ("add", {"ids": ["d"]}, 422),
        ("add", {"embeddings": [[1, 0, 0]]}, 422),
        ("add", {"ids": "d", "embeddings": [[1, 0, 0]]}, 422),
        ("add", {"ids": [1], "embeddings": [[1, 0, 0]]}, 422),
        ("add", {"ids": ["d"], "embeddings": [["x", 0, 0]]}, 422),
        ("add", {"ids": ["d"], "embeddings": [[1, 0, 0]], "metadatas": [{"a": None}]}, 422),
        ("add", {"ids": ["d"], "embeddings": [[1, 0, 0]], "metadatas": [{"$a": 1}]}, 400),
        ("add", {"ids": ["d"], "embeddings": [[1, 0, 0]], "metadatas": [{"a": {"b": 1}}]}, 400),
        ("add", {"ids": ["d"], "embeddings": [[1, 0, 0]], "metadatas": ["x"]}, 422),
        ("add", {"ids": ["d"], "embeddings": [[1, 0, 0]], "documents": [5]}, 422),
        ("add", {"ids": ["x" * 2000], "embeddings": [[1, 0, 0]]}, 400),
        ("query", {"query_embeddings": [[1, 0]], "n_results": 1}, 400),
        ("query", {"n_results": 1}, 422),
        ("query", {"query_embeddings": [[1, 0, 0]], "n_results": -1}, 422),
        ("query", {"query_embeddings": [[1, 0, 0]], "n_results": "3"}, 422),
        ("query", {"query_embeddings": [[1, 0, 0]], "where": {"k": {"$gt": "x"}}}, 400),
        ("query", {"query_embeddings": [[1, 0, 0]], "include": ["bogus"]}, 422),
        ("get", {"include": None}, 422),
        ("get", {"where": {}}, 400),
        ("get", {"where": "x"}, 400),
        ("get", {"where_document": {"$matches": "x"}}, 400),
        ("get", {"where_document": {"$regex": "("}}, 400),
        ("get", {"limit": -1}, 400),
        ("get", {"limit": "1"}, 422),
        ("update", {"ids": ["a"], "embeddings": [[1, 0]]}, 400),
        ("upsert", {"ids": ["a"]}, 422),
    ]
    for op, body, status in cases:
        st, b, r = cl.post(f"{p}/{op}", body)
        assert st == status, (op, body, b)
        assert isinstance(b, dict) and isinstance(b.get("message"), str) and b.get("error")
        assert r.getheader("Content-Type") == "application/json"
    assert cl.get(p + "/count")[1] == 3  # nothing was written
    assert cl.post(f"{BASE}/collections/not-a-uuid/get", {})[0] == 400
    assert cl.post(f"{BASE}/collections/{uuid.uuid4()}/get", {})[0] == 404
    st, b, _ = cl.post(f"{BASE}/collections/{uuid.uuid4()}/add", {"ids": ["a"], "embeddings": [[1]]})
    assert st == 404 and b["error"] == "NotFoundError"


def test_batch_limit(cl):
    c = make_coll(cl)
    n = cl.get("/api/v2/pre-flight-checks")[1]["max_batch_size"]
    ids = [str(i) for i in range(n + 1)]
    st, b, _ = cl.post(f"{BASE}/collections/{c['id']}/add",
                       {"ids": ids, "embeddings": [b64([1.0])] * len(ids)})
    assert st == 400 and "batch" in b["message"]


# ------------------------------------------------------------------ bad input

def test_malformed_json_and_shapes(cl):
    p = BASE + "/collections"
    for raw, status in ((b"{", 400), (b"{\"name\": }", 400), (b"nul", 400), (b"\xff\xfe", 400),
                        (b"[1,2]", 422), (b"\"str\"", 422), (b"", 400), (b"{\"name\":\"ok\"} x", 400)):
        st, b, r = cl.req("POST", p, raw=raw)
        assert st == status, raw
        assert r.getheader("Content-Type") == "application/json" and "message" in b
    deep = b"[" * 10000 + b"]" * 10000
    assert cl.req("POST", p, raw=deep)[0] == 400
    assert cl.get("/api/v2/heartbeat")[0] == 200


def test_huge_body(srv):
    cl = srv.client()
    big = b'{"name":"' + b"x" * (2 << 20) + b'"}'
    try:
        st, b, _ = cl.req("POST", BASE + "/collections", raw=big)
        assert st == 413 and "too large" in b["message"]
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server may close the socket before the whole body is written
    # chunked upload past the limit
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"POST " + BASE.encode() + b"/collections HTTP/1.1\r\nHost: x\r\n"
              b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    chunk = b"a" * 65536
    try:
        for _ in range(40):
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        resp = s.recv(4096)
        assert b" 413 " in resp.split(b"\r\n")[0]
    except (ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    assert srv.client().get("/api/v2/heartbeat")[0] == 200


def test_header_limit(srv):
    """Headers up to ~14 KiB are served; past the 16 KiB pool the answer is 431, and the
    connection's server keeps serving."""
    def send(n):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /api/v2/version HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * n + b"\r\n\r\n")
        head = s.recv(4096).split(b"\r\n")[0]
        s.close()
        return int(head.split(b" ")[1])
    assert send(12000) == 200
    assert send(20000) == 431
    assert srv.client().get("/api/v2/heartbeat")[0] == 200


def test_huge_headers(srv):
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"GET /api/v2/version HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
    try:
        resp = s.recv(4096)
        assert resp == b"" or int(resp.split(b" ")[1]) in (400, 413, 431)
    except ConnectionResetError:
        pass
    s.close()
    assert srv.client().get("/api/v2/heartbeat")[0] == 200


def test_garbage_requests_keep_server_up(srv):
    junk = [b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
            b"POST /api/v2/tenants HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"GET /%zz%00 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/v2/tenants/%00abc HTTP/1.1\r\nHost: x\r\n\r\n"]
    for j in junk:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.settimeout(5)
        try:
            s.sendall(j)
            s.recv(4096)
        except OSError:
            pass
        s.close()
    assert srv.client().get("/api/v2/heartbeat")[0] == 200


def test_keep_alive_reuses_connection(srv):
    c = http.client.HTTPConnection("127.0.0.1", srv.port)
    for _ in range(20):
        c.request("GET", "/api/v2/version")
        r = c.getresponse()
        r.read()
        assert r.status == 200 and r.getheader("Connection", "").lower() != "close"
    sock = c.sock
    c.request("GET", "/api/v2/version")
    c.getresponse().read()
    assert c.sock is sock


def test_reset(cl):
    c = make_coll(cl)
    assert cl.post("/api/v2/reset")[:2] == (200, True)
    assert cl.get(f"{BASE}/collections/{c['name']}")[0] == 404
    assert cl.get(f"/api/v2/tenants/{T}/databases/{D}")[0] == 200


# ------------------------------------------------------------------ auth

@pytest.mark.parametrize("via", ["flag", "env"])
def test_auth(tmp, via):
    data = os.path.join(tmp, "auth-" + via)
    if via == "flag":
        s = Server(data, "--token", "s3cret")
    else:
        s = Server(data, env={"CHROMA_SERVER_AUTHN_CREDENTIALS": "s3cret"})
    try:
        anon = s.client()
        assert anon.get("/api/v2/heartbeat")[0] == 200
        for path in ("/api/v2/version", BASE + "/collections", "/metrics", "/api/v2/pre-flight-checks"):
            st, b, r = anon.get(path)
            assert st == 401 and r.getheader("Content-Type") == "application/json" and b["message"]
        assert s.client(token="wrong").get("/api/v2/version")[0] == 401
        assert s.client(token="s3cret" + "x").get("/api/v2/version")[0] == 401
        assert s.client(token="").get("/api/v2/version")[0] == 401
        assert s.client(token="s3cret").get("/api/v2/version")[0] == 200
        ok = s.client(token="s3cret", header="Authorization")
        assert ok.get(BASE + "/collections")[0] == 200
        assert anon.post(BASE + "/collections", {"name": "abc"})[0] == 401
    finally:
        assert s.stop() == 0


def test_no_reset_without_flag(tmp):
    s = Server(os.path.join(tmp, "noreset"))
    try:
        st, b, _ = s.client().post("/api/v2/reset")
        assert st == 403 and b["error"] == "ChromaError"
    finally:
        s.stop()


# ------------------------------------------------------------------ life cycle

def test_lock_refuses_second_server(srv):
    r = subprocess.run([BIN, "serve", "--data", srv.data, "--port", str(free_port())],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "locked" in r.stderr
    assert srv.client().get("/api/v2/heartbeat")[0] == 200


def test_port_in_use(tmp, srv):
    r = subprocess.run([BIN, "serve", "--data", os.path.join(tmp, "other"), "--port", str(srv.port)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot listen" in r.stderr


def test_bad_options():
    r = subprocess.run([BIN, "serve", "--port", "99999"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    r = subprocess.run([BIN, "serve", "--bogus"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--max-body" in r.stdout


def test_sigterm_clean_exit_and_restart(tmp):
    data = os.path.join(tmp, "restart")
    s = Server(data)
    cl = s.client()
    c = make_coll(cl, "keep", configuration={"hnsw": {"space": "cosine"}}, metadata={"v": 1})
    n = 300
    ids = [f"id{i}" for i in range(n)]
    embs = [b64([float(i), float(i % 7), 1.0]) for i in range(n)]
    assert cl.post(f"{BASE}/collections/{c['id']}/add",
                   {"ids": ids, "embeddings": embs, "documents": ids})[0] == 201
    for sig in (signal.SIGTERM, signal.SIGINT):
        assert s.stop(sig) == 0, s.output()
        s = Server(data)
        cl = s.client()
        g = cl.get(f"{BASE}/collections/keep")[1]
        assert g["id"] == c["id"] and g["metadata"] == {"v": 1} and g["dimension"] == 3
        assert g["configuration_json"]["hnsw"]["space"] == "cosine"
        assert cl.get(f"{BASE}/collections/{c['id']}/count")[1] == n
        r = cl.post(f"{BASE}/collections/{c['id']}/get", {"ids": ["id42"]})[1]
        assert r["documents"] == ["id42"]
    assert s.stop() == 0


# ------------------------------------------------------------------ load and fuzz

def test_mixed_load_no_5xx(srv):
    import threading
    setup = srv.client()
    c = make_coll(setup, "load-" + uuid.uuid4().hex[:6])
    p = f"{BASE}/collections/{c['id']}"
    statuses, lock = [], threading.Lock()
    stop = time.time() + 4

    def worker(seed):
        rnd = __import__("random").Random(seed)
        cl = srv.client()
        i = 0
        while time.time() < stop:
            i += 1
            op = rnd.random()
            ids = [f"w{seed}-{rnd.randrange(200)}" for _ in range(rnd.randrange(1, 20))]
            ids = list(dict.fromkeys(ids))
            vecs = [b64([rnd.random() for _ in range(8)]) for _ in ids]
            if op < 0.3:
                st = cl.post(p + "/add", {"ids": ids, "embeddings": vecs,
                                          "metadatas": [{"s": seed, "i": i}] * len(ids)})[0]
            elif op < 0.45:
                st = cl.post(p + "/upsert", {"ids": ids, "embeddings": vecs, "documents": ids})[0]
            elif op < 0.55:
                st = cl.post(p + "/delete", {"ids": ids[:3]})[0]
            elif op < 0.6:
                st = cl.post(p + "/update", {"ids": ids, "metadatas": [{"u": 1}] * len(ids)})[0]
            elif op < 0.9:
                st = cl.post(p + "/query", {"query_embeddings": [[rnd.random() for _ in range(8)]],
                                            "n_results": 10, "where": {"s": {"$ne": seed}}})[0]
            else:
                st = cl.post(p + "/get", {"limit": 5, "where": {"i": {"$gt": 3}}})[0]
            with lock:
                statuses.append(st)

    ts = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert statuses and all(s < 500 for s in statuses), sorted(set(statuses))
    assert set(statuses) <= {200, 201}, sorted(set(statuses))


def test_fuzzed_requests_never_5xx(srv):
    rnd = __import__("random").Random(7)
    cl = srv.client()
    c = make_coll(cl, "fuzz-" + uuid.uuid4().hex[:6])
    add3(cl, c["id"])
    p = f"{BASE}/collections/{c['id']}"
    seeds = [
        (p + "/add", {"ids": ["a"], "embeddings": [[1, 0, 0]], "metadatas": [{"k": 1}]}),
        (p + "/query", {"query_embeddings": [[1, 0, 0]], "n_results": 2, "where": {"k": {"$in": [1, 2]}},
                        "include": ["distances"]}),
        (p + "/get", {"ids": ["a"], "where_document": {"$contains": "doc"}, "limit": 2}),
        (p + "/delete", {"where": {"$and": [{"k": 1}, {"tag": "x"}]}}),
        (BASE + "/collections", {"name": "fuzzed", "configuration": {"hnsw": {"space": "ip"}}}),
        (p + "/update", {"ids": ["b"], "embeddings": [None], "documents": ["x"]}),
    ]
    junk = [None, 0, -1, 1e308, "", "x" * 300, [], {}, [[]], [None], {"$and": []}, True, 2 ** 63]

    def mutate(v, depth=0):
        if isinstance(v, dict) and v and rnd.random() < 0.7:
            k = rnd.choice(list(v))
            v = dict(v)
            v[k] = mutate(v[k], depth + 1) if rnd.random() < 0.6 else rnd.choice(junk)
            return v
        if isinstance(v, list) and v and rnd.random() < 0.7:
            v = list(v)
            i = rnd.randrange(len(v))
            v[i] = mutate(v[i], depth + 1) if rnd.random() < 0.6 else rnd.choice(junk)
            return v
        return rnd.choice(junk)

    for _ in range(600):
        path, body = rnd.choice(seeds)
        raw = json.dumps(mutate(body)).encode()
        if rnd.random() < 0.1:
            raw = raw[:rnd.randrange(len(raw) + 1)]
        st, b, r = cl.req("POST", path, raw=raw)
        assert st < 500, (raw, b)
        assert r.getheader("Content-Type") == "application/json"
    assert cl.get("/api/v2/heartbeat")[0] == 200


def test_fuzzed_query_bodies_fast_path_agrees(srv):
    """Byte-level mutations of query bodies, for the hand-written reader (server/query_fast.c):
    each body goes once as it is and once with "exact": false in front, which only the general
    (Jansson) path takes. Same status both ways, same answer on 200, never a 5xx, and the
    server still answers afterwards."""
    rnd = __import__("random").Random(11)
    cl = srv.client()
    c = make_coll(cl, "fuzzq-" + uuid.uuid4().hex[:6])
    st, b, _ = cl.post(f"{BASE}/collections/{c['id']}/add",
                       {"ids": [str(i) for i in range(40)],
                        "embeddings": [[rnd.uniform(-2, 2) for _ in range(4)] for _ in range(40)]})
    assert st == 201, b
    q = f"{BASE}/collections/{c['id']}/query"
    seeds = ['{"query_embeddings": [[0.5, -1.25, 3e-2, 0.1000000000000000055511151231257827], '
             '[-0.0, 12345.678, 0.00001, 7]], "n_results": 3, "include": ["distances", "embeddings"]}',
             '{"include":[],"n_results":2,"query_embeddings":[[-0.43787492710378561,1,2,3]],"ids":null}',
             '{"query_embeddings": [[1.5, 2.25, -3.125, 4]], "where": null, "where_document": null}']
    alphabet = '0123456789.-+eE,[]{}: "nul'
    agreed = 0
    for _ in range(500):
        s = rnd.choice(seeds)
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(s))
            op = rnd.random()
            if op < 0.5:
                s = s[:i] + rnd.choice(alphabet) + s[i + 1:]
            elif op < 0.75:
                s = s[:i] + s[i + 1:]
            else:
                s = s[:i] + rnd.choice(alphabet) + s[i:]
        if not s.startswith("{") or "exact" in s:
            continue
        slow = '{"exact": false, ' + s[1:] if s[1:].lstrip().startswith('"') else None
        s1, r1, _ = cl.req("POST", q, raw=s.encode())
        assert s1 < 500, (s, r1)
        if slow is None:
            continue
        s2, r2, _ = cl.req("POST", q, raw=slow.encode())
        assert s1 == s2, (s, r1, r2)
        if s1 == 200:
            assert r1 == r2, s
            agreed += 1
    assert agreed >= 50  # enough mutants still valid queries for the comparison to mean something
    assert cl.get("/api/v2/heartbeat")[0] == 200

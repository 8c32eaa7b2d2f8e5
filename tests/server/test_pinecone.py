# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/server/test_pinecone.py -- the Pinecone face of `quiver serve` (--pinecone-port) over raw
HTTP (stdlib only): every malformed or out-of-range input gets a 4xx with a JSON body that
names the field (never a 5xx, which the Pinecone client would retry), error body shapes,
routing, auth, the oversize limit, and the data surviving a restart.

The flows through the official client are in tests/js-pinecone.
Run: /usr/bin/python3 -m pytest -q tests/server/test_pinecone.py
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("QUIVER_BIN", os.path.join(ROOT, "build", "quiver"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data, *extra):
        self.data, self.port, self.pc_port = data, free_port(), free_port()
        while self.pc_port == self.port:
            self.pc_port = free_port()
        self.extra = extra
        self.log = open(data + f".log-{self.port}", "w+")
        e = dict(os.environ)
        e.pop("QUIVER_TOKEN", None)
        e.pop("CHROMA_SERVER_AUTHN_CREDENTIALS", None)
        self.proc = subprocess.Popen(
            [BIN, "serve", "--data", data, "--port", str(self.port), "--pinecone-port",
             str(self.pc_port), "--log-level", "warn", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=e)
        end = time.time() + 20
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.output())
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.pc_port, timeout=2)
                c.request("GET", "/indexes")
                c.getresponse().read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start: " + self.output())

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def req(self, method, path, body=None, raw=None, headers=None, port=None):
        c = http.client.HTTPConnection("127.0.0.1", port or self.pc_port, timeout=30)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        h = {"Content-Type": "application/json", "Api-Key": "k"}
        h.update(headers or {})
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        c.close()
        try:
            j = json.loads(text) if text else None
        except ValueError:
            j = None
        return r.status, j, text


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("pc") / "data"), "--max-body", "200K")
    st, j, _ = s.req("POST", "/indexes", {"name": "idx", "dimension": 3, "metric": "dotproduct",
                                          "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}})
    assert st == 201, j
    st, j, _ = s.req("POST", "/indexes", {"name": "cos", "dimension": 3, "metric": "cosine",
                                          "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}})
    assert st == 201, j
    st, j, _ = s.req("POST", "/data/idx/vectors/upsert",
                     {"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"g": "x"}},
                                  {"id": "b", "values": [0, 1, 0]}]})
    assert st == 200 and j == {"upsertedCount": 2}
    yield s
    assert s.stop() == 0


def data_error(s, method, path, body=None, raw=None, want=400, match=None):
    st, j, text = s.req(method, path, body, raw)
    assert st == want, (st, text)
    assert isinstance(j, dict) and j.get("code") and isinstance(j.get("message"), str), text
    assert j.get("details") == []
    if match:
        assert match in j["message"], j["message"]
    return j


UP = "/data/idx/vectors/upsert"
Q = "/data/idx/query"

BAD_UPSERT = [
    ('{"vectors": [', "parse"),
    ('[1, 2]', "object"),
    ('{}', "vectors"),
    ('{"vectors": []}', "vectors"),
    ('{"vectors": {"id": "a"}}', "vectors"),
    ('{"vectors": [3]}', "vectors[0]"),
    ('{"vectors": [{"values": [1, 0, 0]}]}', "vectors[0].id"),
    ('{"vectors": [{"id": "", "values": [1, 0, 0]}]}', "vectors[0].id"),
    ('{"vectors": [{"id": 5, "values": [1, 0, 0]}]}', "vectors[0].id"),
    ('{"vectors": [{"id": "a"}]}', "vectors[0].values"),
    ('{"vectors": [{"id": "a", "values": "x"}]}', "vectors[0].values"),
    ('{"vectors": [{"id": "a", "values": [1, 0]}]}', "Vector dimension 2 does not match the dimension of the index 3"),
    ('{"vectors": [{"id": "a", "values": [1, 0, "z"]}]}', "vectors[0].values[2]"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 1e300]}]}', "vectors[0].values[2]"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0]}, {"id": "b", "values": [1]}]}', "vectors[1].values"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": 4}]}', "vectors[0].metadata"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"k": null}}]}', "null"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"k": [1, 2]}}]}', "strings only"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"k": {"x": 1}}}]}', "object"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"__pc_si": 1}}]}', "reserved"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"$k": 1}}]}', "reserved"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "sparseValues": [1]}]}', "sparseValues"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "sparseValues": {"indices": [1, 2], "values": [1]}}]}', "different lengths"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "sparseValues": {"indices": [-1], "values": [1]}}]}', "indices[0]"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "sparseValues": {"indices": [1.5], "values": [1]}}]}', "indices[0]"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "sparseValues": {"indices": [1], "values": ["v"]}}]}', "values[0]"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0]}], "namespace": 7}', "namespace"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0]}], "namespace": "a/b"}', "Namespace"),
    ('{"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"k": []}}]}', "empty"),
]


@pytest.mark.parametrize("raw,match", BAD_UPSERT)
def test_upsert_bad_bodies(srv, raw, match):
    data_error(srv, "POST", UP, raw=raw, match=match)


def test_upsert_batch_limit_and_nothing_written_on_error(srv):
    vecs = [{"id": f"n{i}", "values": [1, 0, 0]} for i in range(1001)]
    data_error(srv, "POST", UP, {"vectors": vecs}, match="1001")
    data_error(srv, "POST", UP, {"vectors": [{"id": "ok1", "values": [1, 0, 0]},
                                             {"id": "bad", "values": [1, 0]}]})
    st, j, _ = srv.req("GET", "/data/idx/vectors/fetch?ids=ok1")
    assert st == 200 and j["vectors"] == {}


def test_sparse_on_cosine_index(srv):
    data_error(srv, "POST", "/data/cos/vectors/upsert",
               {"vectors": [{"id": "a", "values": [1, 0, 0], "sparseValues": {"indices": [1], "values": [1]}}]},
               match="only indexes that are configured to use the dotproduct metric support sparse values")


BAD_QUERY = [
    ('{"vector": [1, 0, 0]}', "topK"),
    ('{"topK": 0, "vector": [1, 0, 0]}', "topK"),
    ('{"topK": 10001, "vector": [1, 0, 0]}', "topK"),
    ('{"topK": "5", "vector": [1, 0, 0]}', "topK"),
    ('{"topK": 1.5, "vector": [1, 0, 0]}', "topK"),
    ('{"topK": 1}', "vector or id"),
    ('{"topK": 1, "vector": [1, 0, 0], "id": "a"}', "both"),
    ('{"topK": 1, "vector": [1, 0]}', "Vector dimension 2"),
    ('{"topK": 1, "vector": [1, 0, "x"]}', "vector[2]"),
    ('{"topK": 1, "vector": "abc"}', "vector"),
    ('{"topK": 1, "id": ""}', "id"),
    ('{"topK": 1, "id": 5}', "id"),
    ('{"topK": 1, "vector": [1, 0, 0], "includeValues": "yes"}', "includeValues"),
    ('{"topK": 1, "vector": [1, 0, 0], "includeMetadata": 1}', "includeMetadata"),
    ('{"topK": 1, "vector": [1, 0, 0], "namespace": 3}', "namespace"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": 3}', "filter"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"$foo": 1}}', "$foo"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"g": {"$in": []}}}', "$in"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"g": {"$in": "x"}}}', "$in"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"g": {"$in": [{"a": 1}]}}}', "element 0"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"g": null}}', "'g'"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"g": [1]}}', "'g'"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"g": {}}}', "'g'"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"g": {"$exists": 1}}}', "$exists"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"$and": []}}', "$and"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"$or": [{}]}}', "$or[0]"),
    ('{"topK": 1, "vector": [1, 0, 0], "filter": {"#document": "x"}}', "#document"),
    ('{"topK": 1, "vector": [1, 0, 0], "sparseVector": {"indices": [1]}}', "sparseVector"),
    ('{"topK": 1, "queries": [{"values": [1, 0, 0]}]}', "queries"),
]


@pytest.mark.parametrize("raw,match", BAD_QUERY)
def test_query_bad_bodies(srv, raw, match):
    data_error(srv, "POST", Q, raw=raw, match=match)


def test_query_filter_nesting_is_bounded(srv):
    f = {"g": "x"}
    for _ in range(40):
        f = {"$and": [f]}
    data_error(srv, "POST", Q, {"topK": 1, "vector": [1, 0, 0], "filter": f}, match="deeper")
    f = {"g": "x"}
    for _ in range(5):
        f = {"$or": [f, {"g": "y"}]}
    st, j, _ = srv.req("POST", Q, {"topK": 5, "vector": [1, 0, 0], "filter": f})
    assert st == 200 and [m["id"] for m in j["matches"]] == ["a"]


def test_query_fast_and_general_paths_agree(srv):
    body = {"namespace": "", "topK": 2, "vector": [1, 0.25, 0], "includeValues": True, "includeMetadata": True}
    st1, j1, _ = srv.req("POST", Q, body)
    # spaces, a number form the fast reader hands over, and a key it does not take
    raw = ' { "topK" : 2 , "vector" : [ 1.0e0 , 0.25 , -0 ] , "includeValues" : true , ' \
          '"includeMetadata" : true , "namespace" : "__default__", "filter": null } '
    st2, j2, _ = srv.req("POST", Q, raw=raw)
    assert st1 == st2 == 200
    assert j1["matches"] == j2["matches"]
    assert [m["id"] for m in j1["matches"]] == ["a", "b"]
    assert j1["matches"][0]["score"] == pytest.approx(1.0)
    assert j1["matches"][0]["metadata"] == {"g": "x"}
    assert "metadata" not in j1["matches"][1] or j1["matches"][1]["metadata"] == {}


def test_fetch_list_edge_cases(srv):
    data_error(srv, "GET", "/data/idx/vectors/fetch", match="ids")
    data_error(srv, "GET", "/data/idx/vectors/fetch?ids=%zz", match="ids[0]")
    data_error(srv, "GET", "/data/idx/vectors/fetch?ids=a&namespace=%2", match="namespace")
    many = "&".join("ids=1" for i in range(1001))  # short: the request line must fit ~14 KiB
    data_error(srv, "GET", "/data/idx/vectors/fetch?" + many, match="1001")
    st, j, _ = srv.req("GET", "/data/idx/vectors/fetch?ids=a&ids=nope&namespace=__default__")
    assert st == 200 and list(j["vectors"]) == ["a"] and j["vectors"]["a"]["values"] == [1, 0, 0]
    # the default namespace: absent, "" and "__default__" are one namespace
    st, j2, _ = srv.req("GET", "/data/idx/vectors/fetch?ids=a&namespace=")
    assert j2["vectors"] == j["vectors"]
    for lim in ("0", "101", "abc", "-1", ""):
        data_error(srv, "GET", f"/data/idx/vectors/list?limit={lim}", match="limit")
    data_error(srv, "GET", "/data/idx/vectors/list?paginationToken=zz", match="paginationToken")
    st, j, _ = srv.req("GET", "/data/idx/vectors/list?prefix=%61")
    assert st == 200 and j["vectors"] == [{"id": "a"}] and "pagination" not in j
    st, j, _ = srv.req("GET", "/data/idx/vectors/list?namespace=empty-ns")
    assert st == 200 and j["vectors"] == []


def test_ids_with_odd_characters_round_trip(srv):
    odd = "päth/with?&=+ sp%ace"
    st, _, _ = srv.req("POST", UP, {"vectors": [{"id": odd, "values": [0, 0, 1]}], "namespace": "odd"})
    assert st == 200
    from urllib.parse import quote
    st, j, _ = srv.req("GET", f"/data/idx/vectors/fetch?ids={quote(odd, safe='')}&namespace=odd")
    assert st == 200 and list(j["vectors"]) == [odd]
    st, j, _ = srv.req("GET", "/data/idx/vectors/list?namespace=odd")
    assert j["vectors"] == [{"id": odd}]


BAD_DELETE = [
    ('{}', "required"),
    ('{"ids": []}', "required"),
    ('{"ids": "a"}', "ids"),
    ('{"ids": [""]}', "ids[0]"),
    ('{"ids": ["a", 3]}', "ids[1]"),
    ('{"ids": ["a"], "deleteAll": true}', "only one"),
    ('{"deleteAll": "yes"}', "deleteAll"),
    ('{"filter": {"g": {"$bad": 1}}}', "$bad"),
    ('{"deleteAll": true, "filter": {"g": "x"}}', "only one"),
]


@pytest.mark.parametrize("raw,match", BAD_DELETE)
def test_delete_bad_bodies(srv, raw, match):
    data_error(srv, "POST", "/data/idx/vectors/delete", raw=raw, match=match)


BAD_UPDATE = [
    ('{}', "id or filter"),
    ('{"id": ""}', "id"),
    ('{"id": "a", "filter": {"g": "x"}}', "together"),
    ('{"filter": {"g": "x"}, "values": [1, 0, 0]}', "values"),
    ('{"id": "a", "values": [1, 0]}', "Vector dimension 2"),
    ('{"id": "a", "setMetadata": {"k": null}}', "null"),
    ('{"id": "a", "setMetadata": 5}', "setMetadata"),
    ('{"id": "a", "sparseValues": {"indices": [1, 1], "values": [1, 2]}}', "more than once"),
]


@pytest.mark.parametrize("raw,match", BAD_UPDATE)
def test_update_bad_bodies(srv, raw, match):
    data_error(srv, "POST", "/data/idx/vectors/update", raw=raw, match=match)


def test_update_by_filter_dry_run(srv):
    st, j, _ = srv.req("POST", "/data/idx/vectors/update", {"filter": {"g": "x"}, "setMetadata": {"t": 1}, "dryRun": True})
    assert st == 200 and j == {"matchedRecords": 1}
    st, j, _ = srv.req("GET", "/data/idx/vectors/fetch?ids=a")
    assert j["vectors"]["a"]["metadata"] == {"g": "x"}


def test_stats_routes(srv):
    st, j, _ = srv.req("GET", "/data/idx/describe_index_stats")
    assert st == 200 and j["dimension"] == 3 and j["metric"] == "dotproduct"
    assert j["namespaces"]["__default__"]["vectorCount"] >= 2
    data_error(srv, "POST", "/data/idx/describe_index_stats", {"filter": {"x": {"$nope": 1}}}, match="$nope")
    data_error(srv, "POST", "/data/idx/describe_index_stats", raw="{nope", match="parse")


def test_routing_and_unknown_index(srv):
    data_error(srv, "POST", "/data/ghost/query", {"topK": 1, "vector": [1, 0, 0]}, want=404, match="ghost")
    data_error(srv, "GET", "/data/idx/nothing/here", want=404)
    data_error(srv, "GET", "/data/idx/query", want=405)
    data_error(srv, "POST", "/data/idx/vectors/fetch", want=405)
    st, j, _ = srv.req("GET", "/nothing")
    assert st == 404 and j["status"] == 404 and j["error"]["code"] == "NOT_FOUND"
    st, j, _ = srv.req("PUT", "/indexes")
    assert st == 405 and j["error"]["code"] == "METHOD_NOT_ALLOWED"
    st, j, _ = srv.req("GET", "/indexes/ghost")
    assert st == 404 and j["error"]["code"] == "NOT_FOUND" and "ghost" in j["message"]


BAD_CREATE = [
    ('{"name": "x1"', "parse"),
    ('{"dimension": 3, "spec": {}}', "name"),
    ('{"name": "UPPER", "dimension": 3, "spec": {}}', "name"),
    ('{"name": "-dash", "dimension": 3, "spec": {}}', "name"),
    ('{"name": "' + "a" * 46 + '", "dimension": 3, "spec": {}}', "name"),
    ('{"name": "x1", "spec": {}}', "dimension"),
    ('{"name": "x1", "dimension": 0, "spec": {}}', "dimension"),
    ('{"name": "x1", "dimension": "3", "spec": {}}', "dimension"),
    ('{"name": "x1", "dimension": 3, "metric": "manhattan", "spec": {}}', "metric"),
    ('{"name": "x1", "dimension": 3, "metric": 5, "spec": {}}', "metric"),
    ('{"name": "x1", "dimension": 3}', "spec"),
    ('{"name": "x1", "dimension": 3, "spec": {}, "deletion_protection": "maybe"}', "deletion_protection"),
    ('{"name": "x1", "dimension": 3, "spec": {}, "vector_type": "sparse"}', "vector_type"),
]


@pytest.mark.parametrize("raw,match", BAD_CREATE)
def test_create_index_bad_bodies(srv, raw, match):
    st, j, text = srv.req("POST", "/indexes", raw=raw)
    assert st == 400, text
    assert j["status"] == 400 and j["error"]["code"] == "INVALID_ARGUMENT"
    assert match in j["error"]["message"] and j["message"] == j["error"]["message"]


def test_conflict_and_delete_index(srv):
    body = {"name": "tmp-idx", "dimension": 2, "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}}
    assert srv.req("POST", "/indexes", body)[0] == 201
    st, j, _ = srv.req("POST", "/indexes", body)
    assert st == 409 and j["error"]["code"] == "ALREADY_EXISTS"
    st, j, _ = srv.req("GET", "/indexes/tmp-idx", headers={"Host": "example.test:1234"})
    assert j["host"] == "http://example.test:1234/data/tmp-idx"
    st, _, text = srv.req("DELETE", "/indexes/tmp-idx")
    assert st == 202 and text == b""
    assert srv.req("GET", "/indexes/tmp-idx")[0] == 404


def test_oversized_body_is_413_not_5xx(srv):
    big = '{"vectors": [' + ",".join('{"id": "x%d", "values": [1, 0, 0]}' % i for i in range(9000)) + "]}"
    assert len(big) > 200 * 1024
    st, j, _ = srv.req("POST", UP, raw=big)
    assert st == 413 and j["code"] == 8


def test_pinecone_collections_stay_out_of_the_default_chroma_database(srv):
    st, j, _ = srv.req("GET", "/api/v2/tenants/default_tenant/databases/default_database/collections",
                       port=srv.port)
    assert st == 200 and j == []
    st, j, _ = srv.req("GET", "/api/v2/tenants/pinecone/databases/idx/collections", port=srv.port)
    assert st == 200 and "__default__" in [c["name"] for c in j]


def test_auth_and_restart(tmp_path):
    data = str(tmp_path / "d")
    s = Server(data, "--token", "tok")
    try:
        st, j, _ = s.req("GET", "/indexes", headers={"Api-Key": "nope"})
        assert st == 401 and j["error"]["code"] == "UNAUTHENTICATED"
        st, j, _ = s.req("POST", "/data/x/query", raw="{}", headers={"Api-Key": "tok "})
        assert st == 401 and j["code"] == 16
        ok = {"Api-Key": "tok"}
        st, _, _ = s.req("POST", "/indexes", {"name": "keep", "dimension": 2, "metric": "euclidean", "spec": {}},
                         headers=ok)
        assert st == 201
        st, _, _ = s.req("POST", "/data/keep/vectors/upsert",
                         {"vectors": [{"id": "p", "values": [3, 4], "metadata": {"m": "v"}}], "namespace": "n1"},
                         headers=ok)
        assert st == 200
        # the Chroma token headers do not open the Pinecone face
        st, _, _ = s.req("GET", "/indexes", headers={"Api-Key": "", "x-chroma-token": "tok"})
        assert st == 401
    finally:
        assert s.stop() == 0
    s = Server(data, "--token", "tok")
    try:
        ok = {"Api-Key": "tok"}
        st, j, _ = s.req("GET", "/indexes/keep", headers=ok)
        assert st == 200 and j["dimension"] == 2 and j["metric"] == "euclidean"
        st, j, _ = s.req("POST", "/data/keep/query", {"topK": 1, "vector": [0, 0], "namespace": "n1",
                                                      "includeMetadata": True}, headers=ok)
        assert st == 200 and j["matches"][0]["id"] == "p"
        assert j["matches"][0]["score"] == pytest.approx(25.0)
        assert j["matches"][0]["metadata"] == {"m": "v"}
    finally:
        assert s.stop() == 0


def test_port_in_use_is_a_clean_startup_error(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        busy = blocker.getsockname()[1]
        p = subprocess.run([BIN, "serve", "--data", str(tmp_path / "d"), "--port", str(free_port()),
                            "--pinecone-port", str(busy)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "Pinecone" in p.stderr


def test_namespace_is_a_collection_for_the_python_module(tmp_path):
    """A namespace written through Pinecone is the quiver collection "pinecone/{index}/{ns}"."""
    import sys
    build = os.environ.get("QUIVER_BUILD", os.path.join(ROOT, "build", "python"))
    sys.path.insert(0, os.path.abspath(build))
    import quiver  # the module of this build (fails, not skips, when it is missing)
    data = str(tmp_path / "d")
    s = Server(data)
    try:
        assert s.req("POST", "/indexes", {"name": "py-idx", "dimension": 2, "metric": "dotproduct",
                                          "spec": {}})[0] == 201
        st, _, _ = s.req("POST", "/data/py-idx/vectors/upsert", {"namespace": "ns-a", "vectors": [
            {"id": "v1", "values": [0.5, 2], "metadata": {"lang": "en", "n": 3},
             "sparseValues": {"indices": [4], "values": [1.5]}}]})
        assert st == 200
    finally:
        assert s.stop() == 0
    with quiver.Database(data, read_only=True) as db:
        assert "pinecone/py-idx/ns-a" in db.list_collections()
        col = db.get_collection("pinecone/py-idx/ns-a")
        assert col.dim == 2 and col.metric == "ip"
        got = col.get(include=["metadatas", "embeddings"])
        assert got["ids"] == ["v1"]
        assert [float(x) for x in got["embeddings"][0]] == [0.5, 2.0]
        m = got["metadatas"][0]
        assert m["lang"] == "en" and m["n"] == 3
        assert sorted(m["__pc_keys"]) == ["lang", "n"]
        import base64
        import struct
        assert struct.unpack("<If", base64.b64decode(m["__pc_sparse"])) == (4, 1.5)
        assert col.query([[1, 0]], n_results=1)["ids"] == [["v1"]]


def test_mutated_bodies_never_5xx_and_both_query_readers_agree(srv):
    """Byte-level mutants of valid bodies on every POST route: a 2xx or a 4xx with a JSON body,
    never a 5xx or a dropped connection; query mutants that still parse as JSON get the same
    answer from the hand-written reader (pc_fast.c) as from Jansson (forced by an extra key)."""
    import random
    rnd = random.Random(1234)
    seeds = [
        (Q, '{"namespace":"__default__","topK":2,"vector":[1,0.5,-2.5e-1],"includeValues":true,'
            '"includeMetadata":false}'),
        (Q, '{"topK":3,"id":"a","filter":{"$or":[{"g":{"$in":["x","y"]}},{"n":{"$gte":1}}]}}'),
        (UP, '{"vectors":[{"id":"m1","values":[0.1,0.2,0.3],"metadata":{"g":"z","l":["p"]},'
             '"sparseValues":{"indices":[1,9],"values":[0.5,1]}}],"namespace":"fz"}'),
        ("/data/idx/vectors/update", '{"id":"m1","setMetadata":{"g":"w"},"namespace":"fz"}'),
        ("/data/idx/vectors/delete", '{"ids":["nope"],"namespace":"fz"}'),
        ("/data/idx/describe_index_stats", '{"filter":{"g":{"$ne":"x"}}}'),
    ]
    alphabet = '{}[]":,0123456789.-eE truefalsnul$\\'
    fast_checked = 0
    for i in range(600):
        path, body = seeds[i % len(seeds)]
        b = list(body)
        for _ in range(rnd.randint(1, 3)):
            op, pos = rnd.randint(0, 2), rnd.randrange(len(b))
            if op == 0:
                b[pos] = rnd.choice(alphabet)
            elif op == 1:
                b.insert(pos, rnd.choice(alphabet))
            elif len(b) > 1:
                del b[pos]
        raw = "".join(b)
        st, j, text = srv.req("POST", path, raw=raw)
        assert st < 500, (path, raw, st, text)
        assert isinstance(j, dict), (path, raw, text)
        if st >= 400:
            assert isinstance(j.get("message"), str) and j.get("details") == [], text
        if path == Q and i % len(seeds) == 0:
            try:
                parsed = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(parsed, dict) or "filter" in parsed:
                continue
            parsed["filter"] = None  # a key the fast reader does not take: the Jansson path
            st2, j2, text2 = srv.req("POST", path, parsed)
            assert st2 == st, (raw, text, text2)
            if st == 200:
                assert j2 == j, (raw, text, text2)
                fast_checked += 1
    assert fast_checked >= 5
    st, j, _ = srv.req("GET", "/indexes/idx")
    assert st == 200

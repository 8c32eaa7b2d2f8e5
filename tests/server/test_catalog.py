# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/server/test_catalog.py -- one catalog for every face (issue 10 item 5): a collection the
CLI makes is the Chroma face's collection of default_tenant/default_database (and /metrics
counts it), a Chroma collection of the default database is the CLI's plain name, a database
drop removes all its collections for good, and a data directory written by the 0.2 server
(tests/fixtures/format2-server, made by tests/fixtures/make_format2_server.py) is migrated
once and serves everything it held (item 6); so is a format-3 directory whose server kept
the Chroma configuration under a metadata key (tests/fixtures/format3-server).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server import BASE, BIN, ROOT, Server, free_port  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "format2-server")


def cli(data, *args):
    r = subprocess.run([BIN, "--data", data, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def py(data, code):
    """Run code with the quiver Python module ($QUIVER_BUILD) and DATA = the data directory."""
    build = os.path.abspath(os.environ.get("QUIVER_BUILD", os.path.join(ROOT, "build", "python")))
    env = dict(os.environ, PYTHONPATH=build)
    r = subprocess.run(["/usr/bin/python3", "-c", f"import quiver\nDATA = {data!r}\n{code}"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def data():
    with tempfile.TemporaryDirectory(prefix="quiver-catalog-") as tmp:
        yield os.path.join(tmp, "data")


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line
    return None


def test_a_cli_collection_is_the_default_databases(data):
    rows = os.path.join(os.path.dirname(data), "rows.jsonl")
    with open(rows, "w") as f:
        for i in range(5):
            f.write(json.dumps({"id": f"r{i}", "embedding": [i, 1.0, 0.5]}) + "\n")
    cli(data, "import", "from-cli", rows, "--create", "--dim", "3")
    s = Server(data)
    try:
        cl = s.client()
        st, b, _ = cl.get(BASE + "/collections")
        assert st == 200 and [c["name"] for c in b] == ["from-cli"], b
        assert b[0]["tenant"] == "default_tenant" and b[0]["database"] == "default_database"
        assert cl.get(BASE + "/collections_count")[1] == 1
        cid = b[0]["id"]
        st, b, _ = cl.post(f"{BASE}/collections/{cid}/query", {"query_embeddings": [[2, 1, 0.5]], "n_results": 1})
        assert st == 200 and b["ids"] == [["r2"]], b
        assert cl.get(f"{BASE}/collections/{cid}/count")[1] == 5
        text = cl.get("/metrics")[1].decode()
        assert metric(text, "quiver_collections") == "quiver_collections 1", text
        assert 'quiver_collection_records{collection="default_tenant/default_database/from-cli"} 5' in text
        # and the other way: a Chroma collection is the CLI's plain name
        st, b, _ = cl.post(BASE + "/collections", {"name": "from-chroma"})
        assert st == 200, b
        st, _, _ = cl.post(f"{BASE}/collections/{b['id']}/add", {"ids": ["x"], "embeddings": [[1, 2]]})
        assert st == 201
        st, b, _ = cl.post("/api/v2/tenants", {"name": "acme"})
        st, b, _ = cl.post("/api/v2/tenants/acme/databases", {"name": "prod"})
        assert st == 200, b
        st, b, _ = cl.post("/api/v2/tenants/acme/databases/prod/collections", {"name": "elsewhere"})
        assert st == 200, b
        text = cl.get("/metrics")[1].decode()
        assert metric(text, "quiver_collections") == "quiver_collections 3", text
        assert 'quiver_collection_records{collection="acme/prod/elsewhere"} 0' in text
    finally:
        assert s.stop() == 0
    assert cli(data, "list").split() == ["acme/prod/elsewhere", "from-chroma", "from-cli"]
    out = cli(data, "get", "from-chroma", "--ids", "x")
    assert "x" in out
    # Python sees the same names, and what it makes the server lists
    out = py(data, "db = quiver.Database(DATA); print(db.list_collections(), db.get_collection('from-chroma').count()); "
                   "db.create_collection('from-python', 2); db.close()")
    assert out.strip() == "['acme/prod/elsewhere', 'from-chroma', 'from-cli'] 1", out
    # the CLI drops one: the server no longer lists it
    cli(data, "drop", "from-chroma")
    s = Server(data)
    try:
        st, b, _ = s.client().get(BASE + "/collections")
        assert [c["name"] for c in b] == ["from-cli", "from-python"], b
    finally:
        assert s.stop() == 0


def test_a_database_drop_removes_all_its_collections(data):
    s = Server(data)
    try:
        cl = s.client()
        assert cl.post("/api/v2/tenants", {"name": "acme"})[0] == 200
        for d in ("prod", "dev"):
            assert cl.post("/api/v2/tenants/acme/databases", {"name": d})[0] == 200
        p = "/api/v2/tenants/acme/databases/prod"
        ids = []
        for name in ("one", "two", "three"):
            st, b, _ = cl.post(p + "/collections", {"name": name})
            assert st == 200, b
            ids.append(b["id"])
            assert cl.post(f"{p}/collections/{b['id']}/add", {"ids": ["a", "b"], "embeddings": [[1, 0], [0, 1]]})[0] == 201
        st, b, _ = cl.post("/api/v2/tenants/acme/databases/dev/collections", {"name": "one"})
        assert st == 200
        assert cl.get(p + "/collections_count")[1] == 3
        assert cl.req("DELETE", p)[:2] == (200, {})
        assert cl.get(p)[0] == 404
        assert cl.get(p + "/collections_count")[1] == 0
        for cid in ids:
            assert cl.get(f"{p}/collections/{cid}/count")[0] == 404
        assert [c["name"] for c in cl.get("/api/v2/tenants/acme/databases/dev/collections")[1]] == ["one"]
        text = cl.get("/metrics")[1].decode()
        assert metric(text, "quiver_collections") == "quiver_collections 1", text
    finally:
        assert s.stop() == 0
    assert cli(data, "list").split() == ["acme/dev/one"]
    s = Server(data)
    try:
        cl = s.client()
        assert cl.get("/api/v2/tenants/acme/databases/prod")[0] == 404
        assert [d["name"] for d in cl.get("/api/v2/tenants/acme/databases")[1]] == ["dev"]
        # the same name again is a new, empty database
        assert cl.post("/api/v2/tenants/acme/databases", {"name": "prod"})[0] == 200
        assert cl.get("/api/v2/tenants/acme/databases/prod/collections")[1] == []
    finally:
        assert s.stop() == 0


def test_a_format2_server_directory_is_migrated_once(tmp_path):
    data = str(tmp_path / "old")
    shutil.copytree(FIXTURE, data)
    pc = free_port()
    s = Server(data, "--pinecone-port", str(pc), "--log-level", "info")
    try:
        out = s.output()
        assert out.count("migrated the store from format 2 to format 4 (once)") == 1, out
        assert "the configuration of 1 collection moved from the metadata key __quiver_config" in out, out
        assert "collection shared, which the server did not see, renamed shared.local" in out
        cl = s.client()
        cols = {c["name"]: c for c in cl.get(BASE + "/collections")[1]}
        assert sorted(cols) == ["alpha", "cli_only", "shared", "shared.local"]
        a = cols["alpha"]
        assert a["id"] == "b275d37d-074f-417f-94ff-3b704a664193"  # the 0.2 server's UUID
        assert a["metadata"] == {"owner": "fixture"}
        assert a["configuration_json"]["hnsw"]["space"] == "cosine"
        assert a["configuration_json"]["embedding_function"] == {"type": "known", "name": "default", "config": {}}
        st, g, _ = cl.post(f"{BASE}/collections/{a['id']}/get", {"ids": ["a3"], "include": ["documents", "metadatas"]})
        assert st == 200 and g["documents"] == ["doc 3"] and g["metadatas"] == [{"k": 3}], g
        assert cl.get(f"{BASE}/collections/{cols['shared']['id']}/count")[1] == 2  # the server's own
        assert cl.get(f"{BASE}/collections/{cols['cli_only']['id']}/count")[1] == 3
        assert cl.get(f"{BASE}/collections/{cols['shared.local']['id']}/count")[1] == 0  # the CLI's, renamed
        dbs = cl.get("/api/v2/tenants/acme/databases")[1]
        assert [(d["name"], d["id"]) for d in dbs] == [("dev", "06cd73f0-6147-4869-b711-935974545764"),
                                                      ("prod", "de0455e0-9c8d-4c58-9f83-1615a5c3eaba")]
        assert [d["name"] for d in cl.get("/api/v2/tenants/default_tenant/databases")[1]] == [
            "default_database", "empty-db"]
        items = cl.get("/api/v2/tenants/acme/databases/prod/collections/items")[1]
        assert cl.get(f"/api/v2/tenants/acme/databases/prod/collections/{items['id']}/count")[1] == 3
        assert cl.get("/api/v2/tenants/pinecone")[0] == 200
        # the Pinecone index and its namespaces
        st, j, _ = s_req(pc, "GET", "/indexes/pidx")
        assert st == 200 and j["dimension"] == 2 and j["metric"] == "euclidean", j
        st, j, _ = s_req(pc, "POST", "/data/pidx/query", {"vector": [3, 4], "topK": 1, "namespace": "ns1",
                                                          "includeMetadata": True})
        assert st == 200 and j["matches"][0]["id"] == "q0" and j["matches"][0]["metadata"] == {"g": "x"}, j
        st, j, _ = s_req(pc, "POST", "/data/pidx/query", {"vector": [1, 2], "topK": 1})
        assert st == 200 and j["matches"][0]["id"] == "p0", j
        text = cl.get("/metrics")[1].decode()
        assert metric(text, "quiver_collections") == "quiver_collections 7", text
        # the catalog collection is gone, not shown anywhere
        assert "__quiver_server_catalog" not in text
    finally:
        assert s.stop() == 0
    assert "__quiver_server_catalog" not in cli(data, "list")
    s = Server(data, "--log-level", "info")
    try:
        assert "migrated" not in s.output()
        assert len(s.client().get(BASE + "/collections")[1]) == 4
    finally:
        assert s.stop() == 0


FIXTURE3 = os.path.join(ROOT, "tests", "fixtures", "format3-server")


def test_a_format3_server_directory_is_migrated_once(tmp_path):
    """The format-3 server kept a collection's Chroma configuration in its metadata under
    __quiver_config (tests/fixtures/make_format3_server.py): after the one-time migration to
    the catalog's config column, the Chroma face answers exactly the Collection objects the old
    server did, and the CLI's metadata no longer carries the key."""
    data = str(tmp_path / "old3")
    shutil.copytree(FIXTURE3, data)
    with open(os.path.join(FIXTURE3, "expected.json")) as f:
        expected = json.load(f)
    assert "__quiver_config" in expected["cli_metadata_before"]  # what the CLI showed in format 3
    s = Server(data, "--log-level", "info")
    try:
        out = s.output()
        assert out.count("migrated the store from format 3 to format 4 (once): the configuration of 2 collections "
                         "moved from the metadata key __quiver_config to the catalog's config column") == 1, out
        cl = s.client()
        for name, want in expected["collections"].items():
            st, got, _ = cl.get(f"{BASE}/collections/{name}")
            assert st == 200 and got == want, (name, got, want)
        cid = expected["collections"]["conf"]["id"]
        st, g, _ = cl.post(f"{BASE}/collections/{cid}/get", {"include": ["documents", "metadatas"]})
        assert st == 200 and g["ids"] == ["a", "b", "c"] and g["metadatas"] == [{"k": 1}, {"k": 2}, {"k": 3}], g
    finally:
        assert s.stop() == 0
    info = json.loads(cli(data, "info", "conf", "--json"))
    assert info["metadata"] == {"owner": "fixture"}, info
    assert info["config"]["ef_search"] == 77 and info["config"]["embedding_function"]["name"] == "default", info
    assert json.loads(cli(data, "info", "bare", "--json"))["metadata"] is None
    s = Server(data, "--log-level", "info")
    try:
        assert "migrated" not in s.output()
        st, got, _ = s.client().get(f"{BASE}/collections/conf")
        assert st == 200 and got == expected["collections"]["conf"]
    finally:
        assert s.stop() == 0


def s_req(port, method, path, body=None):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    text = r.read()
    return r.status, (json.loads(text) if text else None), r


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/server/test_chroma_onewrite.py -- issue 10 item 5, the Chroma face's last emulations:

- an `update` mixing rows with and without embeddings (`null`) is one write: a bad row at the
  end of the batch fails it with 400 naming the field and batch position and applies nothing
  (the rows before it with embeddings included); a good one applies every row, the null rows
  keeping their stored embedding (qv_batch.has_embedding);
- a collection's Chroma configuration (embedding_function, resize_factor, sync_threshold, a
  modified ef_search) is the library's collection configuration, not a metadata key: echoed
  in configuration_json across a restart, never in `metadata`, and what the CLI shows as
  `config` (its `metadata` is the user's only).
"""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server import BASE, BIN, ROOT, Server, b64  # noqa: E402


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("onewrite") / "data"))
    yield s
    assert s.stop() == 0


@pytest.fixture
def cl(srv):
    return srv.client()


def rows(cl, p):
    st, r, _ = cl.post(p + "/get", {"include": ["embeddings", "metadatas", "documents"]})
    assert st == 200, r
    return {i: (e, m, d) for i, e, m, d in zip(r["ids"], r["embeddings"], r["metadatas"], r["documents"])}


@pytest.mark.parametrize("space,index", [("l2", "hnsw"), ("cosine", "hnsw"), ("cosine", "flat"), ("ip", "flat")])
def test_mixed_update_is_one_write(cl, space, index):
    st, c, _ = cl.post(BASE + "/collections", {"name": f"mixed-{space}-{index}",
                                               "configuration": {"index": index, "hnsw": {"space": space}}})
    assert st == 200, c
    p = f"{BASE}/collections/{c['id']}"
    st, b, _ = cl.post(p + "/add", {"ids": ["a", "b", "c", "d"],
                                    "embeddings": [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]],
                                    "metadatas": [{"k": 1}, {"k": 2}, {"k": 3}, {"k": 4}],
                                    "documents": ["doc a", "doc b", "doc c", "doc d"]})
    assert st == 201, b
    before = rows(cl, p)

    def update(last_meta):
        return cl.post(p + "/update", {"ids": ["a", "b", "c", "d"],
                                       "embeddings": [[2, 0, 1], None, b64([0, 3, 1]), None],
                                       "metadatas": [{"u": 1}, {"u": 2}, {"u": 3}, last_meta]})

    # a bad row last: the library refuses it, and rows a and c (with embeddings) stay as they were.
    # The reference Chroma server (1.0.0) refuses the same three with 400 InvalidArgumentError
    # ("Validation error: metadatas: Invalid metadata at index 3") and applies nothing either.
    for bad, where in (({"$bad": 4}, "metadatas[3]"), ({"": 4}, "metadatas[3]"), ({"#x": 4}, "metadatas[3]")):
        st, b, _ = update(bad)
        assert st == 400 and b["error"] == "InvalidArgumentError" and where in b["message"], (bad, st, b)
        assert rows(cl, p) == before, bad
    # the good one: every row at once; b and d keep their embeddings
    st, b, _ = update({"u": 4})
    assert (st, b) == (200, {})
    after = rows(cl, p)
    assert after["a"][0] == [2, 0, 1] and after["c"][0] == [0, 3, 1]
    assert after["b"][0] == before["b"][0] == [0, 1, 0] and after["d"][0] == before["d"][0] == [1, 1, 0]
    assert {i: after[i][1] for i in after} == {"a": {"k": 1, "u": 1}, "b": {"k": 2, "u": 2},
                                               "c": {"k": 3, "u": 3}, "d": {"k": 4, "u": 4}}
    assert {i: after[i][2] for i in after} == {i: before[i][2] for i in before}
    # the index has the new vectors and the kept ones
    for q, want in (([2, 0, 1], "a"), ([0, 3, 1], "c"), ([0, 1, 0], "b"), ([1, 1, 0], "d")):
        if space == "ip":
            continue  # inner product: the nearest is not the vector itself
        st, r, _ = cl.post(p + "/query", {"query_embeddings": [q], "n_results": 1, "include": ["distances"]})
        assert st == 200 and r["ids"] == [[want]] and abs(r["distances"][0][0]) < 1e-4, (q, r)


def test_mixed_update_of_only_null_rows_and_a_missing_id(cl):
    st, c, _ = cl.post(BASE + "/collections", {"name": "mixed-nulls"})
    p = f"{BASE}/collections/{c['id']}"
    assert cl.post(p + "/add", {"ids": ["a", "b"], "embeddings": [[1, 2], [3, 4]]})[0] == 201
    # every row null: a metadata-only update; an unknown id is skipped, as Chroma does
    st, b, _ = cl.post(p + "/update", {"ids": ["a", "zz", "b"], "embeddings": [None, [9, 9], None],
                                       "documents": ["A", "ghost", "B"]})
    assert (st, b) == (200, {})
    r = rows(cl, p)
    assert r == {"a": ([1, 2], None, "A"), "b": ([3, 4], None, "B")}
    assert cl.get(p + "/count")[1] == 2


def test_mixed_update_of_a_hamming_collection(tmp_path):
    """A hamming collection (made by the CLI: the Chroma face creates float collections) takes
    rows of packed bytes; an update with null rows keeps those rows' bits (it was refused)."""
    data = str(tmp_path / "data")
    r = subprocess.run([BIN, "--data", data, "create", "hbits", "--dim", "16", "--metric", "hamming"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    s = Server(data)
    try:
        cl = s.client()
        st, c, _ = cl.get(BASE + "/collections/hbits")
        assert st == 200, c
        p = f"{BASE}/collections/{c['id']}"
        st, b, _ = cl.post(p + "/add", {"ids": ["a", "b", "c"], "embeddings": [[0, 0], [240, 240], [255, 255]]})
        assert st == 201, b
        st, b, _ = cl.post(p + "/update", {"ids": ["a", "b", "c"], "embeddings": [[15, 15], None, [1, 1]],
                                           "metadatas": [{"x": 1}, {"x": 2}, {"x": 3}]})
        assert (st, b) == (200, {})
        for q, want in (([15, 15], "a"), ([240, 240], "b"), ([1, 1], "c")):
            st, r, _ = cl.post(p + "/query", {"query_embeddings": [q], "n_results": 1,
                                              "include": ["distances", "metadatas"]})
            assert st == 200 and r["ids"] == [[want]] and r["distances"] == [[0]], (q, r)
            assert r["metadatas"] == [[{"x": "abc".index(want) + 1}]], r
    finally:
        assert s.stop() == 0


def test_configuration_is_the_collections_not_metadata(tmp_path):
    data = str(tmp_path / "data")
    ef = {"type": "known", "name": "default", "config": {}}
    s = Server(data)
    try:
        cl = s.client()
        st, c, _ = cl.post(BASE + "/collections", {
            "name": "conf", "metadata": {"owner": "me"},
            "configuration": {"hnsw": {"space": "cosine", "resize_factor": 1.5, "sync_threshold": 500},
                              "embedding_function": ef}})
        assert st == 200, c
        assert c["metadata"] == {"owner": "me"}
        p = f"{BASE}/collections/{c['id']}"
        # a configuration change leaves the metadata alone, and a metadata change the configuration
        st, b, _ = cl.req("PUT", p, {"new_configuration": {"hnsw": {"ef_search": 77}}})
        assert st == 200, b
        st, b, _ = cl.req("PUT", p, {"new_metadata": {"owner": "you", "n": 2}})
        assert st == 200, b
    finally:
        assert s.stop() == 0
    s = Server(data)
    try:
        cl = s.client()
        st, c, _ = cl.get(BASE + "/collections/conf")
        assert st == 200, c
        h = c["configuration_json"]["hnsw"]
        assert (h["space"], h["ef_search"], h["resize_factor"], h["sync_threshold"]) == ("cosine", 77, 1.5, 500), h
        assert c["configuration_json"]["embedding_function"] == ef
        assert c["metadata"] == {"owner": "you", "n": 2}
        # a metadata filter over collections never sees the configuration either
        listed = [x for x in cl.get(BASE + "/collections")[1] if x["name"] == "conf"]
        assert listed[0]["metadata"] == {"owner": "you", "n": 2}
    finally:
        assert s.stop() == 0
    # the CLI (another face of the same catalog): metadata is the user's, the configuration apart
    r = subprocess.run([BIN, "--data", data, "info", "conf", "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["metadata"] == {"owner": "you", "n": 2}, info
    assert info["config"]["embedding_function"] == ef and info["config"]["ef_search"] == 77, info
    assert "__quiver_config" not in r.stdout
    # and Python: Collection.metadata is the user's, Collection.config the face's
    build = os.path.abspath(os.environ.get("QUIVER_BUILD", os.path.join(ROOT, "build", "python")))
    code = ("import json, quiver\n"
            f"c = quiver.Database({data!r}).get_collection('conf')\n"
            "print(json.dumps([c.metadata, c.config]))\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code], env=dict(os.environ, PYTHONPATH=build),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    meta, conf = json.loads(r.stdout)
    assert meta == {"owner": "you", "n": 2} and conf["embedding_function"] == ef, (meta, conf)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

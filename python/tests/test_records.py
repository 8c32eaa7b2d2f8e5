# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Records: add / upsert / update / delete / get / query, Chroma-shaped results, filters."""
import itertools
import math

import pytest

import quiver
from conftest import as_lists

GET_KEYS = {"ids", "embeddings", "metadatas", "documents", "uris", "data", "include", "included"}
QUERY_KEYS = GET_KEYS | {"distances"}


def test_get_default_shape(col):
    r = col.get()
    assert set(r) == GET_KEYS
    assert r["ids"] == ["a", "b", "c", "d", "e"]  # insertion order
    assert r["embeddings"] is None and r["uris"] is None
    assert r["include"] == ["metadatas", "documents"]
    assert r["metadatas"][0] == {"k": 1, "tag": "x", "arr": ["p", "q"]}
    assert r["metadatas"][3] is None
    assert r["documents"] == ["hello world", "goodbye world", None, "hello there", "nothing"]


@pytest.mark.parametrize("inc", [list(c) for n in range(4)
                                 for c in itertools.combinations(["embeddings", "metadatas", "documents"], n)])
def test_get_include_combinations(col, inc):
    r = col.get(ids=["c", "a"], include=inc)
    assert r["include"] == inc
    assert r["ids"] == ["c", "a"]
    assert (r["embeddings"] is not None) == ("embeddings" in inc)
    assert (r["metadatas"] is not None) == ("metadatas" in inc)
    assert (r["documents"] is not None) == ("documents" in inc)
    if "embeddings" in inc:
        assert as_lists(r["embeddings"]) == [[0, 0, 1, 0], [1, 0, 0, 0]]
    if "documents" in inc:
        assert r["documents"] == [None, "hello world"]


def test_embeddings_are_numpy_float32(col):
    import numpy as np
    r = col.get(include=["embeddings"])
    assert isinstance(r["embeddings"], np.ndarray)
    assert r["embeddings"].dtype == np.float32 and r["embeddings"].shape == (5, 4)
    q = col.query([[1, 0, 0, 0]], n_results=2, include=["embeddings"])
    assert isinstance(q["embeddings"][0], np.ndarray) and q["embeddings"][0].shape == (2, 4)


def test_get_limit_offset(col):
    assert col.get(limit=2)["ids"] == ["a", "b"]
    assert col.get(limit=2, offset=2)["ids"] == ["c", "d"]
    assert col.get(offset=4)["ids"] == ["e"]
    assert col.get(offset=10)["ids"] == []
    assert col.get(limit=0)["ids"] == []
    assert col.get(ids=[])["ids"] == []
    assert col.get(ids="b")["ids"] == ["b"]  # one id alone
    assert col.get(ids=["zz", "b"])["ids"] == ["b"]  # missing ids skipped


@pytest.mark.parametrize("where,expected", [
    ({"tag": "x"}, ["a", "c"]),
    ({"tag": {"$eq": "y"}}, ["b"]),
    ({"tag": {"$ne": "x"}}, ["b", "d", "e"]),        # $ne matches records lacking the key
    ({"tag": {"$nin": ["x", "y"]}}, ["d", "e"]),
    ({"tag": {"$in": ["y", "x"]}}, ["a", "b", "c"]),
    ({"k": {"$gt": 2}}, ["c", "e"]),
    ({"k": {"$gte": 2}}, ["b", "c", "e"]),
    ({"k": {"$lt": 2}}, ["a"]),
    ({"k": {"$lte": 2.5}}, ["a", "b"]),
    ({"k": 3.0}, ["c"]),                             # ints and floats compare
    ({"f": {"$gt": 2}}, ["c"]),
    ({"flag": True}, ["e"]),
    ({"flag": 1}, []),                                # bools only match bools
    ({"arr": {"$contains": "p"}}, ["a"]),
    ({"$and": [{"tag": "x"}, {"k": {"$gt": 1}}]}, ["c"]),
    ({"$or": [{"tag": "y"}, {"flag": True}]}, ["b", "e"]),
    ('{"tag": "y"}', ["b"]),                          # JSON text is accepted as is
    ({}, ["a", "b", "c", "d", "e"]),                  # empty filter = no filter
])
def test_where(col, where, expected):
    assert col.get(where=where)["ids"] == expected
    q = col.query([[0, 0, 0, 0]], n_results=10, where=where, include=[])
    assert sorted(q["ids"][0]) == expected


@pytest.mark.parametrize("wdoc,expected", [
    ({"$contains": "hello"}, ["a", "d"]),
    ({"$contains": "Hello"}, []),                     # case-sensitive
    ({"$not_contains": "hello"}, ["b", "c", "e"]),    # c has no document: matches
    ({"$and": [{"$contains": "world"}, {"$not_contains": "good"}]}, ["a"]),
    ({"$or": [{"$contains": "bye"}, {"$contains": "noth"}]}, ["b", "e"]),
])
def test_where_document(col, wdoc, expected):
    assert col.get(where_document=wdoc)["ids"] == expected


def test_where_and_where_document_and_ids_intersect(col):
    r = col.get(ids=["a", "b", "c", "d"], where={"tag": "x"}, where_document={"$contains": "world"})
    assert r["ids"] == ["a"]


def test_query_shape_and_order(col):
    r = col.query([[1, 0, 0, 0], [0, 0, 0, 1]], n_results=3)
    assert set(r) == QUERY_KEYS
    assert r["include"] == ["metadatas", "documents", "distances"]
    assert r["ids"][0][0] == "a" and r["ids"][1][0] == "d"
    assert len(r["ids"]) == 2 and all(len(row) == 3 for row in r["ids"])
    for row in r["distances"]:
        assert row == sorted(row)
    assert r["distances"][0][0] == 0.0
    assert r["metadatas"][1][0] is None and r["documents"][1][0] == "hello there"
    assert r["embeddings"] is None


def test_query_single_embedding_and_n_results_larger_than_count(col):
    r = col.query([1, 0, 0, 0], n_results=100, include=["distances"])
    assert len(r["ids"]) == 1 and len(r["ids"][0]) == 5
    assert r["metadatas"] is None and r["documents"] is None


@pytest.mark.parametrize("inc", [list(c) for n in range(5) for c in itertools.combinations(
    ["embeddings", "metadatas", "documents", "distances"], n)])
def test_query_include_combinations(col, inc):
    r = col.query([[0, 1, 0, 0]], n_results=1, include=inc)
    assert r["include"] == inc and r["ids"] == [["b"]]
    for field in ("embeddings", "metadatas", "documents", "distances"):
        assert (r[field] is not None) == (field in inc), field
    if "distances" in inc:
        assert r["distances"] == [[0.0]]
    if "embeddings" in inc:
        assert as_lists(r["embeddings"][0]) == [[0, 1, 0, 0]]
    if "metadatas" in inc:
        assert r["metadatas"] == [[{"k": 2, "tag": "y"}]]
    if "documents" in inc:
        assert r["documents"] == [["goodbye world"]]


@pytest.mark.parametrize("metric,expected", [
    ("l2", 2.0),            # squared euclidean between (1,0) and (0,1)
    ("ip", 1.0),            # 1 - dot
    ("cosine", 1.0),        # 1 - cos
    ("l1", 2.0),
])
def test_distances_per_metric(db, metric, expected):
    c = db.create_collection("m", 2, metric=metric)
    c.add(["x", "y"], [[1, 0], [0, 1]])
    r = c.query([[0, 1]], n_results=2, include=["distances"])
    assert r["ids"] == [["y", "x"]]
    assert math.isclose(r["distances"][0][1], expected, abs_tol=1e-6)


def test_query_empty_collection(db):
    c = db.create_collection("e", 3)
    r = c.query([[1, 2, 3], [3, 2, 1]], n_results=4)
    assert r["ids"] == [[], []] and r["distances"] == [[], []]


def test_update_partial_and_metadata_merge(col):
    col.update(["a"], metadatas=[{"tag": None, "new": 7}])
    r = col.get(ids=["a"], include=["metadatas", "documents", "embeddings"])
    assert r["metadatas"] == [{"k": 1, "arr": ["p", "q"], "new": 7}]
    assert r["documents"] == ["hello world"]                      # untouched
    assert as_lists(r["embeddings"]) == [[1, 0, 0, 0]]
    col.update(["a", "b"], embeddings=[[2, 2, 2, 2], [3, 3, 3, 3]], documents=["A", None])
    r = col.get(ids=["a", "b"], include=["embeddings", "documents"])
    assert as_lists(r["embeddings"]) == [[2, 2, 2, 2], [3, 3, 3, 3]]
    assert r["documents"][0] == "A"


def test_update_missing_id(col):
    with pytest.raises(quiver.NotFoundError, match="nope"):
        col.update(["a", "nope"], documents=["x", "y"])
    assert col.get(ids=["a"])["documents"] == ["hello world"]   # all or nothing
    col.update(["a", "nope"], documents=["x", "y"], ignore_missing=True)
    assert col.get(ids=["a"])["documents"] == ["x"]


def test_upsert(col):
    col.upsert(["b", "f"], [[0, 2, 0, 0], [0, 0, 0, 2]], metadatas=[{"z": 1}, {"z": 2}],
               documents=[None, "new"])
    r = col.get(ids=["b", "f"], include=["metadatas", "documents", "embeddings"])
    assert r["metadatas"] == [{"k": 2, "tag": "y", "z": 1}, {"z": 2}]
    assert as_lists(r["embeddings"]) == [[0, 2, 0, 0], [0, 0, 0, 2]]
    assert r["documents"][1] == "new"
    assert col.count() == 6


def test_add_ignore_existing(col):
    col.add(["a", "g"], [[9, 9, 9, 9], [1, 2, 3, 4]], ignore_existing=True)
    assert col.count() == 6
    assert as_lists(col.get(ids=["a"], include=["embeddings"])["embeddings"]) == [[1, 0, 0, 0]]


def test_delete(col):
    assert col.delete(ids=["a", "zzz"]) == 1
    assert col.delete(where={"k": {"$gt": 100}}) == 0
    assert col.delete() == 0
    assert col.delete(ids=[]) == 0
    assert col.count() == 4
    assert col.delete(where={"tag": "x"}) == 1              # only c is left with tag x
    assert col.delete(where_document={"$contains": "hello"}) == 1
    assert col.get()["ids"] == ["b", "e"]
    assert col.delete(ids=["b", "e"], where={"k": 5}) == 1  # intersection
    assert col.get()["ids"] == ["b"]


def test_delete_limit(col):
    assert col.delete(where={"k": {"$gte": 1}}, limit=2) == 2
    assert col.count() == 3


def test_metadata_value_types_roundtrip(db):
    c = db.create_collection("t", 2)
    meta = {"s": "str \"quoted\" \\ \n\t\u00e9\u4e2d\U0001F600", "i": -(2 ** 62), "f": 0.1, "big": 1e300,
            "t": True, "fa": False, "ls": ["a", "b"], "li": [1, 2, 3], "lf": [0.5, 1.5],
            "lb": [True, False], "tuple": ("x", "y"), "whole": 2.0}
    c.add(["x"], [[1, 2]], metadatas=[meta])
    got = c.get(ids=["x"])["metadatas"][0]
    expected = dict(meta, tuple=["x", "y"])
    assert got == expected
    assert isinstance(got["whole"], float) and isinstance(got["i"], int)


def test_numpy_metadata_scalars(db):
    import numpy as np
    c = db.create_collection("t", 2)
    c.add(["x"], [[1, 2]], metadatas=[{"i": np.int64(3), "f": np.float32(0.5)}])
    assert c.get()["metadatas"] == [{"i": 3, "f": 0.5}]


def test_documents_unicode(db):
    c = db.create_collection("t", 2)
    c.add(["x", "y"], [[1, 2], [3, 4]], documents=["h\u00e9llo \U0001F600", ""])
    assert c.get()["documents"] == ["h\u00e9llo \U0001F600", ""]
    assert c.get(where_document={"$contains": "\U0001F600"})["ids"] == ["x"]


def test_unicode_ids(db):
    c = db.create_collection("t", 2)
    c.add(["\u00e9t\u00e9", "\u4e2d"], [[1, 2], [3, 4]])
    assert c.get(ids=["\u4e2d"])["ids"] == ["\u4e2d"]
    assert c.search([3, 4], 1)[0] == ["\u4e2d"]


@pytest.mark.parametrize("kind", ["list", "tuple", "numpy32", "numpy64", "numpy_noncontig", "rows_of_arrays",
                                  "array_module", "memoryview"])
def test_embedding_input_kinds(db, kind):
    import array
    rows = [[1.5, 2.0, -3.0], [0.25, 5.0, 6.0]]
    if kind.startswith("numpy") or kind == "rows_of_arrays":
        import numpy as np
    if kind == "list":
        emb = rows
    elif kind == "tuple":
        emb = tuple(tuple(r) for r in rows)
    elif kind == "numpy32":
        emb = np.array(rows, dtype=np.float32)
    elif kind == "numpy64":
        emb = np.array(rows, dtype=np.float64)
    elif kind == "numpy_noncontig":
        emb = np.asfortranarray(np.array(rows, dtype=np.float32))
        assert not emb.flags["C_CONTIGUOUS"]
    elif kind == "rows_of_arrays":
        emb = [np.array(r, dtype=np.float32) for r in rows]
    elif kind == "array_module":
        emb = [array.array("f", r) for r in rows]
    else:
        emb = [memoryview(array.array("d", r)) for r in rows]
    c = db.create_collection("t", 3)
    c.add(["x", "y"], emb)
    assert as_lists(c.get(include=["embeddings"])["embeddings"]) == rows
    assert c.query(emb, n_results=1, include=[])["ids"] == [["x"], ["y"]]


def test_large_batch_roundtrip(db):
    c = db.create_collection("big", 8)
    n = 2000
    c.add([str(i) for i in range(n)], [[float(i + j) for j in range(8)] for i in range(n)],
          metadatas=[{"i": i} for i in range(n)])
    assert c.count() == n
    assert c.get(where={"i": {"$gte": 1990}})["ids"] == [str(i) for i in range(1990, 2000)]


def test_embeddings_as_lists_without_numpy():
    """QUIVER_NO_NUMPY=1 (or numpy missing): embeddings come back as lists of lists of floats."""
    import os
    import subprocess
    import sys
    code = ("import quiver\n"
            "c = quiver.Database().create_collection('x', 2)\n"
            "c.add(['a', 'b'], [[1, 2], [3, 4]])\n"
            "g = c.get(include=['embeddings'])['embeddings']\n"
            "q = c.query([[1, 2]], n_results=2, include=['embeddings'])['embeddings']\n"
            "e = quiver.Database().create_collection('y', 3).get(include=['embeddings'])['embeddings']\n"
            "assert g == [[1.0, 2.0], [3.0, 4.0]], g\n"
            "assert q == [[[1.0, 2.0], [3.0, 4.0]]], q\n"
            "assert e == [], e\n"
            "print('ok')\n")
    env = dict(os.environ, QUIVER_NO_NUMPY="1", PYTHONPATH=os.environ["QUIVER_BUILD"])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr

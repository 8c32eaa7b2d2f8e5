# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Bad input for every entry point: the right exception class, a message naming the field
(and the batch position), and the collection left exactly as it was."""
import pytest

import quiver
import numpy as np

from conftest import snapshot

INV = quiver.InvalidArgumentError
TYP = quiver.ArgumentTypeError
NAN = float("nan")
INF = float("inf")
OK4 = [1.0, 2.0, 3.0, 4.0]

# (call, exception class, regex the message must match)
WRITE_CASES = {
    "add wrong dim": (lambda c: c.add(["n1", "n2"], [OK4, [1, 2, 3]]), INV, r"embeddings\[1\].*4.*3"),
    "add NaN": (lambda c: c.add(["n1", "n2"], [OK4, [1, NAN, 3, 4]]), INV, r"embeddings\[1\]\[1\].*NaN"),
    "add Inf": (lambda c: c.add(["n1"], [[INF, 1, 2, 3]]), INV, r"embeddings\[0\]\[0\].*Inf"),
    "add -Inf": (lambda c: c.add(["n1"], [[1, 2, 3, -INF]]), INV, r"embeddings\[0\]\[3\]"),
    "add float overflow": (lambda c: c.add(["n1"], [[1e300, 1, 2, 3]]), INV, r"embeddings\[0\]\[0\]"),
    "add huge int": (lambda c: c.add(["n1"], [[10 ** 400, 1, 2, 3]]), INV, r"embeddings\[0\]\[0\]"),
    "add str element": (lambda c: c.add(["n1"], [[1, "x", 2, 3]]), TYP, r"embeddings\[0\]\[1\].*number"),
    "add bool element": (lambda c: c.add(["n1"], [[1, True, 2, 3]]), TYP, r"embeddings\[0\]\[1\]"),
    "add str embeddings": (lambda c: c.add(["n1"], "abcd"), TYP, r"embeddings"),
    "add int embeddings": (lambda c: c.add(["n1"], 5), TYP, r"embeddings"),
    "add None row": (lambda c: c.add(["n1", "n2"], [OK4, None]), TYP, r"embeddings\[1\]"),
    "add empty vector": (lambda c: c.add(["n1"], [[]]), INV, r"embeddings\[0\].*empty"),
    "add rows != ids": (lambda c: c.add(["n1", "n2"], [OK4]), INV, r"embeddings.*1.*2"),
    "add missing embeddings": (lambda c: c.add(["n1"], None), INV, r"embeddings.*required"),
    "add empty ids": (lambda c: c.add([], []), INV, r"ids.*empty"),
    "add empty id": (lambda c: c.add(["n1", ""], [OK4, OK4]), INV, r"ids\[1\]"),
    "add long id": (lambda c: c.add(["x" * 1025], [OK4]), INV, r"ids\[0\].*1024"),
    "add NUL in id": (lambda c: c.add(["a\0b"], [OK4]), INV, r"ids\[0\].*NUL"),
    "add int id": (lambda c: c.add(["n1", 7], [OK4, OK4]), TYP, r"ids\[1\].*str"),
    "add ids not a list": (lambda c: c.add(7, [OK4]), TYP, r"ids"),
    "add duplicate ids": (lambda c: c.add(["n1", "n2", "n1"], [OK4] * 3), INV, r"ids\[2\].*n1"),
    "add existing id": (lambda c: c.add(["n1", "b"], [OK4, OK4]), quiver.AlreadyExistsError, r"ids\[1\].*\"b\""),
    "add metadatas length": (lambda c: c.add(["n1", "n2"], [OK4] * 2, metadatas=[{}]), INV, r"metadatas.*1.*2"),
    "add nested metadata": (lambda c: c.add(["n1", "n2"], [OK4] * 2, metadatas=[None, {"a": {"b": 1}}]),
                            INV, r"metadatas\[1\]\['a'\].*nested"),
    "add nested list": (lambda c: c.add(["n1"], [OK4], metadatas=[{"a": [[1]]}]), INV, r"metadatas\[0\]\['a'\]\[0\]"),
    "add None in metadata": (lambda c: c.add(["n1"], [OK4], metadatas=[{"a": None}]), INV, r"metadatas\[0\]\['a'\]"),
    "add NaN in metadata": (lambda c: c.add(["n1"], [OK4], metadatas=[{"a": NAN}]), INV, r"metadatas\[0\]\['a'\].*NaN"),
    "add int key": (lambda c: c.add(["n1"], [OK4], metadatas=[{1: 2}]), TYP, r"metadatas\[0\].*keys"),
    "add $ key": (lambda c: c.add(["n1"], [OK4], metadatas=[{"$x": 2}]), INV, r"metadatas\[0\]"),
    "add mixed list": (lambda c: c.add(["n1"], [OK4], metadatas=[{"l": [1, "a"]}]), INV, r"metadatas\[0\]"),
    "add empty list value": (lambda c: c.add(["n1"], [OK4], metadatas=[{"l": []}]), INV, r"metadatas\[0\]\['l'\]"),
    "add object value": (lambda c: c.add(["n1"], [OK4], metadatas=[{"o": object()}]), TYP, r"metadatas\[0\]\['o'\]"),
    "add huge int value": (lambda c: c.add(["n1"], [OK4], metadatas=[{"i": 2 ** 70}]), INV, r"metadatas\[0\]\['i'\]"),
    "add metadata not dict": (lambda c: c.add(["n1", "n2"], [OK4] * 2, metadatas=[None, "x"]), TYP, r"metadatas\[1\]"),
    "add documents length": (lambda c: c.add(["n1", "n2"], [OK4] * 2, documents=["x"]), INV, r"documents"),
    "add document not str": (lambda c: c.add(["n1", "n2"], [OK4] * 2, documents=["x", 3]), TYP, r"documents\[1\]"),
    "add NUL in document": (lambda c: c.add(["n1"], [OK4], documents=["a\0b"]), INV, r"documents\[0\].*NUL"),
    "add surrogate": (lambda c: c.add(["n1"], [OK4], documents=["\ud800"]), INV, r"documents\[0\]"),
    "upsert wrong dim": (lambda c: c.upsert(["a", "n1"], [OK4, [1, 2]]), INV, r"embeddings\[1\]"),
    "upsert no embeddings": (lambda c: c.upsert(["a"], None), INV, r"embeddings"),
    "upsert duplicate": (lambda c: c.upsert(["a", "a"], [OK4, OK4]), INV, r"ids\[1\]"),
    "update missing": (lambda c: c.update(["a", "zz"], documents=["x", "y"]), quiver.NotFoundError, r"ids\[1\].*zz"),
    "update NaN": (lambda c: c.update(["a", "b"], embeddings=[OK4, [NAN] * 4]), INV, r"embeddings\[1\]\[0\]"),
    "update nested meta": (lambda c: c.update(["a"], metadatas=[{"x": {}}]), INV, r"metadatas\[0\]\['x'\]"),
    "update empty ids": (lambda c: c.update([], documents=[]), INV, r"ids"),
    "delete bad where": (lambda c: c.delete(where={"k": {"$bogus": 1}}), INV, r"where"),
    "delete where not dict": (lambda c: c.delete(where=5), TYP, r"where"),
    "delete bad where JSON": (lambda c: c.delete(where='{"k": '), INV, r"where"),
    "delete bad where_document": (lambda c: c.delete(where_document={"$bogus": "x"}), INV, r"where_document"),
    "delete bad limit": (lambda c: c.delete(where={"k": 1}, limit=0), INV, r"limit"),
    "delete int id": (lambda c: c.delete(ids=["a", 1]), TYP, r"ids\[1\]"),
    "set_metadata nested": (lambda c: c.modify(metadata={"a": {"b": 1}}), INV, r"metadata\['a'\]"),
}

WRITE_CASES.update({
    "add numpy NaN": (lambda c: c.add(["n1", "n2", "n3"], np.array([OK4, OK4, [1, 2, NAN, 4]], np.float32)),
                      INV, r"embeddings\[2\]\[2\]"),
    "add numpy Inf f64": (lambda c: c.add(["n1", "n2"], np.array([OK4, [1, 2, 3, INF]])),
                          INV, r"embeddings\[1\]\[3\]"),
    "add numpy wrong dim": (lambda c: c.add(["n1"], np.zeros((1, 5), np.float32)), INV, r"embeddings.*4.*5"),
    "add numpy 3-D": (lambda c: c.add(["n1"], np.zeros((1, 1, 4), np.float32)), INV, r"embeddings"),
    "add numpy rows": (lambda c: c.add(["n1", "n2"], np.zeros((3, 4), np.float32)), INV, r"embeddings.*3.*2"),
    "add_vectors 1-D": (lambda c: c.add_vectors(np.zeros(4, np.float32)), INV, r"X.*2-D"),
    "add_vectors wrong dim": (lambda c: c.add_vectors(np.zeros((2, 3), np.float32)), INV, r"X.*4.*3"),
    "add_vectors NaN": (lambda c: c.add_vectors(np.array([OK4, [NAN] * 4], np.float32)), INV, r"\[1\]\[0\]"),
})


@pytest.mark.parametrize("case", sorted(WRITE_CASES))
def test_bad_write_leaves_collection_unchanged(col, case):
    call, cls, pattern = WRITE_CASES[case]
    before = snapshot(col)
    meta_before = col.metadata
    with pytest.raises(cls, match=pattern) as ei:
        call(col)
    assert isinstance(ei.value, quiver.Error)
    assert ei.value.status == cls.status
    assert snapshot(col) == before
    assert col.metadata == meta_before


READ_CASES = {
    "get bad where op": (lambda c: c.get(where={"k": {"$bogus": 1}}), INV, r"where"),
    "get where two keys": (lambda c: c.get(where={"$and": [{"k": 1}], "x": 2}), INV, r"where"),
    "get $gt on str": (lambda c: c.get(where={"k": {"$gt": "a"}}), INV, r"where"),
    "get empty $in": (lambda c: c.get(where={"k": {"$in": []}}), INV, r"where"),
    "get bad where JSON": (lambda c: c.get(where="{nope"), INV, r"where"),
    "get where list": (lambda c: c.get(where=[1]), TYP, r"where"),
    "get where unencodable": (lambda c: c.get(where={"k": object()}), INV, r"where"),
    "get bad where_document": (lambda c: c.get(where_document={"$contains": 5}), INV, r"where_document"),
    "get unknown include": (lambda c: c.get(include=["uris"]), INV, r"include\[0\]"),
    "get distances include": (lambda c: c.get(include=["metadatas", "distances"]), INV, r"include\[1\]"),
    "get include str": (lambda c: c.get(include="documents"), TYP, r"include"),
    "get negative limit": (lambda c: c.get(limit=-1), INV, r"limit"),
    "get negative offset": (lambda c: c.get(offset=-1), INV, r"offset"),
    "get limit str": (lambda c: c.get(limit="3"), TYP, r"limit"),
    "get ids int": (lambda c: c.get(ids=3), TYP, r"ids"),
    "get with where and empty ids": (lambda c: c.get(ids=[], where={"k": {"$bad": 1}}), INV, r"where"),
    "query wrong dim": (lambda c: c.query([[1, 2, 3]]), INV, r"query_embeddings.*4.*3"),
    "query NaN": (lambda c: c.query([OK4, [1, NAN, 1, 1]]), INV, r"query_embeddings\[1\]\[1\]"),
    "query empty": (lambda c: c.query([]), INV, r"query_embeddings"),
    "query n_results 0": (lambda c: c.query([OK4], n_results=0), INV, r"n_results"),
    "query n_results float": (lambda c: c.query([OK4], n_results=1.5), TYP, r"n_results"),
    "query bad include": (lambda c: c.query([OK4], include=["distance"]), INV, r"include\[0\]"),
    "query bad where": (lambda c: c.query([OK4], where={"$and": 3}), INV, r"where"),
    "query bad where_document": (lambda c: c.query([OK4], where_document={"$contains": []}), INV, r"where_document"),
    "search wrong dim": (lambda c: c.search([1, 2, 3], 1), INV, r"q.*4.*3"),
    "search NaN": (lambda c: c.search([1, 2, NAN, 3], 1), INV, r"q\[2\]"),
    "search k 0": (lambda c: c.search(OK4, 0), INV, r"k"),
    "search k str": (lambda c: c.search(OK4, "3"), TYP, r"k"),
    "search q str": (lambda c: c.search("abcd", 1), TYP, r"q"),
    "search 2-D": (lambda c: c.search([OK4, OK4], 1), TYP, r"q\[0\]"),
    "search missing q": (lambda c: c.search(), TYP, r"search"),
    "search bad kw": (lambda c: c.search(OK4, kk=3), TYP, r"kk"),
    "search_batch wrong dim": (lambda c: c.search_batch([[1, 2, 3]], 1), INV, r"Q\[0\]"),
    "search_batch k 0": (lambda c: c.search_batch([OK4], 0), INV, r"k"),
    "set_params unknown": (lambda c: c.set_params(bogus=1), INV, r"bogus"),
    "set_params str": (lambda c: c.set_params(ef_search="x"), INV, r"ef_search: unknown parameter for index kind flat"),
    "set_params positional": (lambda c: c.set_params(3), TYP, r"keyword"),
}

READ_CASES.update({
    "search numpy NaN": (lambda c: c.search(np.array([1, NAN, 1, 1], np.float32), 1), INV, r"\[1\]"),
    "search numpy wrong dim": (lambda c: c.search(np.zeros(5, np.float32), 1), INV, r"q.*4.*5"),
    "search numpy 2-D": (lambda c: c.search(np.zeros((2, 4), np.float32), 1), INV, r"q.*1-D"),
    "search_batch numpy 1-D": (lambda c: c.search_batch(np.zeros(4, np.float32), 1), INV, r"Q.*2-D"),
    "query numpy wrong dim": (lambda c: c.query(np.zeros((2, 3), np.float32)), INV, r"query_embeddings"),
})


@pytest.mark.parametrize("case", sorted(READ_CASES))
def test_bad_read(col, case):
    call, cls, pattern = READ_CASES[case]
    before = snapshot(col)
    with pytest.raises(cls, match=pattern):
        call(col)
    assert snapshot(col) == before


DB_CASES = {
    "create exists": (lambda d: d.create_collection("c", 4), quiver.AlreadyExistsError, r"c"),
    "create empty name": (lambda d: d.create_collection("", 4), INV, r"name"),
    "create control char": (lambda d: d.create_collection("a\x01", 4), INV, r"name"),
    "create NUL name": (lambda d: d.create_collection("a\0b", 4), INV, r"name.*NUL"),
    "create name int": (lambda d: d.create_collection(3, 4), TYP, r"name"),
    "create dim 0": (lambda d: d.create_collection("n", 0), INV, r"dim"),
    "create dim negative": (lambda d: d.create_collection("n", -3), INV, r"dim"),
    "create dim str": (lambda d: d.create_collection("n", "4"), TYP, r"dim"),
    "create dim float": (lambda d: d.create_collection("n", 4.0), TYP, r"dim"),
    "create dim huge": (lambda d: d.create_collection("n", 2 ** 40), INV, r"dim"),
    "create bad metric": (lambda d: d.create_collection("n", 4, metric="minkowski"), INV, r"metric.*minkowski"),
    "create metric int": (lambda d: d.create_collection("n", 4, metric=2), TYP, r"metric"),
    "create bad index": (lambda d: d.create_collection("n", 4, index="diskann"), INV, r"index.*diskann"),
    "create unknown params": (lambda d: d.create_collection("n", 4, foo=1, ef=2), INV, r"(foo|ef): unknown parameter"),
    "create M 0": (lambda d: d.create_collection("n", 4, index="hnsw", M=0), INV, r"M"),
    "create M str": (lambda d: d.create_collection("n", 4, index="hnsw", M="16"), INV, r"M: expected a number"),
    "create unknown kind": (lambda d: d.create_collection("n", 4, index="ivf9"), INV, r'unknown kind "ivf9"'),
    "create nested metadata": (lambda d: d.create_collection("n", 4, metadata={"a": {"b": 1}}), INV, r"metadata\['a'\]"),
    "create metadata list": (lambda d: d.create_collection("n", 4, metadata=[1]), TYP, r"metadata"),
    "get missing": (lambda d: d.get_collection("nope"), quiver.NotFoundError, r"nope"),
    "get name int": (lambda d: d.get_collection(1), TYP, r"name"),
    "delete missing": (lambda d: d.delete_collection("nope"), quiver.NotFoundError, r"nope"),
    "rename missing": (lambda d: d.rename_collection("nope", "x"), quiver.NotFoundError, r"nope"),
    "rename to existing": (lambda d: d.rename_collection("c", "other"), quiver.AlreadyExistsError, r"other"),
    "rename to empty": (lambda d: d.rename_collection("c", ""), INV, r"name"),
    "get_or_create bad metric": (lambda d: d.get_or_create_collection("n", 4, metric="x"), INV, r"metric"),
    "get_or_create unknown param": (lambda d: d.get_or_create_collection("n", 4, bogus=1), INV, r"bogus"),
}


@pytest.mark.parametrize("case", sorted(DB_CASES))
def test_bad_db_call(db, case):
    c = db.create_collection("c", 4)
    c.add(["a"], [OK4])
    db.create_collection("other", 2)
    call, cls, pattern = DB_CASES[case]
    with pytest.raises(cls, match=pattern):
        call(db)
    assert db.list_collections() == ["c", "other"]
    assert db.get_collection("c").count() == 1


def test_all_or_nothing_big_batch(col):
    """A bad record at the end of a large batch leaves nothing behind."""
    before = snapshot(col)
    n = 1000
    emb = [[float(i), 1.0, 2.0, 3.0] for i in range(n)]
    emb[-1][2] = NAN
    with pytest.raises(INV, match=r"embeddings\[999\]\[2\]"):
        col.add([f"x{i}" for i in range(n)], emb)
    metas = [{"i": i} for i in range(n)]
    metas[500] = {"bad": {"nested": True}}
    with pytest.raises(INV, match=r"metadatas\[500\]"):
        col.add([f"x{i}" for i in range(n)], [[1.0, 2.0, 3.0, 4.0]] * n, metadatas=metas)
    assert snapshot(col) == before

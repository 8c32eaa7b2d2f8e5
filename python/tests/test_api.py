# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Database and collection management, the exception classes, persistence."""
import random

import pytest

import quiver
from conftest import as_lists, snapshot


def test_version():
    # equal to CMakeLists.txt's project() version: tests/install/test_version.py
    major, minor, patch = map(int, quiver.__version__.split("."))
    assert quiver.version_number == major * 1000000 + minor * 1000 + patch
    assert quiver.MAX_ID_LEN == 1024


def test_exception_hierarchy():
    E = quiver
    assert issubclass(E.Error, Exception)
    pairs = [(E.InvalidArgumentError, ValueError, "QV_INVALID"),
             (E.NotFoundError, LookupError, "QV_NOTFOUND"),
             (E.AlreadyExistsError, ValueError, "QV_EXISTS"),
             (E.OutOfMemoryError, MemoryError, "QV_NOMEM"),
             (E.StorageError, OSError, "QV_IO"),
             (E.BusyError, OSError, "QV_BUSY"),
             (E.MisuseError, RuntimeError, "QV_MISUSE"),
             (E.UnsupportedError, NotImplementedError, "QV_UNSUPPORTED"),
             (E.CorruptError, E.Error, "QV_CORRUPT"),
             (E.ArgumentTypeError, TypeError, "QV_INVALID")]
    for cls, builtin, status in pairs:
        assert issubclass(cls, E.Error) and issubclass(cls, builtin), cls
        assert cls.status == status
        assert quiver.status_name(cls.code) == status
    assert issubclass(E.ArgumentTypeError, E.InvalidArgumentError)
    assert E.Error.status == "QV_ERROR"


def test_in_memory_database(db):
    assert db.path is None
    assert not db.closed
    assert db.list_collections() == []
    assert "in-memory" in repr(db)


def test_create_and_properties(db):
    c = db.create_collection("docs", 3, metric="cosine", metadata={"owner": "me", "n": 2})
    assert c.name == "docs"
    assert c.dim == 3
    assert c.metric == "cosine"
    assert c.index == "flat"
    assert c.metadata == {"owner": "me", "n": 2}
    assert len(c.uuid) == 36
    assert c.count() == 0 and len(c) == 0
    assert c.database is db
    assert "docs" in repr(c)
    assert c.index_params == {}  # flat has no parameters


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine", "l1"])
def test_metrics(db, metric):
    c = db.create_collection("m", 2, metric=metric)
    assert c.metric == metric


def test_metric_aliases(db):
    assert db.create_collection("a", 2, metric="euclidean").metric == "l2"
    assert db.create_collection("b", 2, metric="dot").metric == "ip"


def test_hnsw_params(db):
    c = db.create_collection("h", 8, index="hnsw", M=8, ef_construction=50, ef_search=20)
    assert c.index == "hnsw"
    assert c.index_params == {"M": 8, "ef_construction": 50, "ef_search": 20, "quantizer": "auto",
                              "rerank": 3, "build_on_codes": True, "keep_floats": False}
    c.set_params(ef_search=40, ef_construction=60)
    assert c.index_params["ef_search"] == 40 and c.index_params["ef_construction"] == 60
    with pytest.raises(quiver.InvalidArgumentError, match="quantizer: fixed when the collection was created"):
        c.set_params(quantizer="none")
    d = db.create_collection("h2", 8, index="hnsw", quantizer="none", max_neighbors=12)
    assert d.index_params == {"M": 12, "ef_construction": 200, "ef_search": 64, "quantizer": "none",
                              "rerank": 3, "build_on_codes": True, "keep_floats": False}


def test_get_list_rename_delete(db):
    a = db.create_collection("b-coll", 2)
    db.create_collection("a-coll", 2)
    assert db.list_collections() == ["a-coll", "b-coll"]
    assert db.get_collection("a-coll").name == "a-coll"
    db.rename_collection("b-coll", "c-coll")
    assert a.name == "c-coll"  # the handle follows the rename
    assert db.list_collections() == ["a-coll", "c-coll"]
    db.delete_collection("a-coll")
    assert db.list_collections() == ["c-coll"]
    with pytest.raises(quiver.NotFoundError, match="a-coll"):
        db.get_collection("a-coll")


def test_get_or_create(db):
    c = db.get_or_create_collection("g", 3, metric="ip")
    assert c.metric == "ip" and c.dim == 3
    c.add(["x"], [[1, 2, 3]])
    again = db.get_or_create_collection("g", 5, metric="l2")  # exists: options ignored
    assert again.dim == 3 and again.metric == "ip" and again.count() == 1


def test_dim_fixed_by_first_write(db):
    c = db.get_or_create_collection("lazy")
    assert c.dim == 0
    c.add(["x"], [[1.0, 2.0, 3.0]])
    assert c.dim == 3
    with pytest.raises(quiver.InvalidArgumentError, match=r"embeddings\[0\]"):
        c.add(["y"], [[1.0, 2.0]])


def test_modify(db):
    c = db.create_collection("m", 2)
    c.modify(metadata={"v": 1})
    assert c.metadata == {"v": 1}
    c.modify(name="m2")
    assert c.name == "m2" and db.list_collections() == ["m2"]


def test_deleted_collection_handle_raises(db):
    c = db.create_collection("gone", 2)
    db.delete_collection("gone")
    with pytest.raises(quiver.MisuseError):
        c.count()
    with pytest.raises(quiver.MisuseError):
        c.search([0.0, 0.0], 1)


def test_close_and_context_manager():
    with quiver.Database() as d:
        c = d.create_collection("x", 2)
        c.add(["a"], [[1, 2]])
    assert d.closed
    with pytest.raises(quiver.MisuseError):
        c.count()
    with pytest.raises(quiver.MisuseError):
        d.list_collections()
    d.close()  # twice is fine
    assert "closed" in repr(c) and "closed" in repr(d)


def test_collection_outlives_database_reference():
    c = quiver.Database().create_collection("x", 2)  # the Database is kept alive by c
    c.add(["a"], [[1, 2]])
    assert c.count() == 1
    del c


def test_open_errors(tmp_path):
    with pytest.raises(quiver.InvalidArgumentError, match="sync"):
        quiver.Database(str(tmp_path / "d"), sync="sometimes")
    with pytest.raises(TypeError):
        quiver.Database(123)
    with pytest.raises(quiver.InvalidArgumentError, match="n_threads"):
        quiver.Database(n_threads=-1)
    f = tmp_path / "file"
    f.write_text("not a directory")
    with pytest.raises(quiver.Error):
        quiver.Database(str(f))


def test_path_like(tmp_path):
    with quiver.Database(tmp_path / "p", sync="normal") as d:
        assert d.path == str(tmp_path / "p")
        assert str(tmp_path / "p") in repr(d)


def test_read_only(tmp_path):
    with quiver.Database(str(tmp_path / "d")) as d:
        d.create_collection("x", 2).add(["a"], [[1, 2]])
    with quiver.Database(str(tmp_path / "d"), read_only=True) as d:
        c = d.get_collection("x")
        assert c.count() == 1 and c.search([1, 2], 1)[0] == ["a"]
        with pytest.raises(quiver.MisuseError):
            c.add(["b"], [[3, 4]])


def test_second_open_of_same_dir_is_busy(tmp_path):
    with quiver.Database(str(tmp_path / "d")):
        with pytest.raises(quiver.BusyError):
            quiver.Database(str(tmp_path / "d"))


def _fill(c, n, seed):
    rnd = random.Random(seed)
    ids = [f"id{i}" for i in range(n)]
    emb = [[rnd.uniform(-1, 1) for _ in range(c.dim)] for _ in range(n)]
    metas = [{"i": i, "even": i % 2 == 0, "tag": rnd.choice(["a", "b", "c"])} for i in range(n)]
    docs = [f"document number {i}" for i in range(n)]
    c.add(ids, emb, metadatas=metas, documents=docs)
    return emb


@pytest.mark.parametrize("sync", ["full", "normal"])
def test_persistence_reopen_identical(tmp_path, sync):
    path = str(tmp_path / "db")
    rnd = random.Random(7)
    queries = [[rnd.uniform(-1, 1) for _ in range(16)] for _ in range(5)]
    with quiver.Database(path, sync=sync) as d:
        assert d.path == path
        c = d.create_collection("p", 16, metric="cosine", metadata={"k": "v"})
        _fill(c, 300, 1)
        c.update(["id3"], metadatas=[{"tag": None, "extra": 1}])
        c.delete(ids=["id5", "id6"])
        d.create_collection("other", 2)
        before = snapshot(c)
        q_before = c.query(queries, n_results=7, where={"even": True})
    with quiver.Database(path, sync=sync) as d:
        assert d.list_collections() == ["other", "p"]
        c = d.get_collection("p")
        assert (c.dim, c.metric, c.metadata) == (16, "cosine", {"k": "v"})
        assert snapshot(c) == before
        q_after = c.query(queries, n_results=7, where={"even": True})
        assert q_after["ids"] == q_before["ids"]
        assert q_after["distances"] == q_before["distances"]
        assert q_after["metadatas"] == q_before["metadatas"]
        assert c.get(ids=["id3"])["metadatas"] == [{"i": 3, "even": False, "extra": 1}]


def test_persistence_add_vectors_then_search(tmp_path):
    import numpy as np
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 32)).astype(np.float32)
    Q = rng.standard_normal((10, 32)).astype(np.float32)
    path = str(tmp_path / "db")
    with quiver.Database(path) as d:
        c = d.create_collection("v", 32)
        c.add_vectors(X)
        r1 = c.search_batch(Q, 10)
    with quiver.Database(path) as d:
        c = d.get_collection("v")
        assert c.count() == 500
        assert c.search_batch(Q, 10) == r1
        got = c.get(ids=["0", "499"], include=["embeddings"])
        assert as_lists(got["embeddings"]) == as_lists(X[[0, 499]])


def test_checkpoint(tmp_path):
    with quiver.Database(str(tmp_path / "d")) as d:
        c = d.create_collection("x", 2)
        c.add(["a"], [[1, 2]])
        d.checkpoint()
        st = c.stats()
        assert st["count"] == 1
        assert set(st) == {"count", "n_slots", "n_tombstones", "mem_vectors", "mem_graph",
                           "max_level", "last_seq", "checkpoint_seq", "mem_codes", "mem_ids",
                           "mem_metadata", "mem_documents", "bytes_per_record"}
        parts = st["mem_vectors"] + st["mem_graph"] + st["mem_ids"] + st["mem_metadata"] + st["mem_documents"]
        assert st["bytes_per_record"] == parts  # one record
        assert st["mem_ids"] >= 16 + 32 and st["mem_vectors"] >= 8


def test_compact(tmp_path):
    rnd = random.Random(3)
    X = [[rnd.gauss(0, 1) for _ in range(8)] for _ in range(1200)]
    ids = [str(i) for i in range(1200)]
    with quiver.Database(str(tmp_path / "d")) as d:
        c = d.create_collection("h", 8, index="hnsw", ef_search=100)
        c.add(ids, X)
        c.delete(ids=ids[:100])                     # under the automatic threshold
        assert c.stats()["n_tombstones"] == 100
        before = c.query(X[500], n_results=5, include=["distances"])
        assert c.compact() is None
        st = c.stats()
        assert (st["n_tombstones"], st["count"]) == (0, 1100)
        assert c.query(X[500], n_results=5, include=["distances"])["ids"] == before["ids"]
        c.delete(ids=ids[100:1000])                 # 900 of 1100: rebuilt on the way
        st = c.stats()
        assert st["count"] == 200 and (st["n_tombstones"] < 256 or 2 * st["n_tombstones"] < 200)
        assert all(c.query(X[i], n_results=1)["ids"][0] == [ids[i]] for i in range(1000, 1200))
        assert d.create_collection("f", 8).compact() is None   # flat: nothing to do
    with quiver.Database(str(tmp_path / "d"), read_only=True) as d:
        with pytest.raises(quiver.MisuseError, match="read-only"):
            d.get_collection("h").compact()


def test_modify_errors_leave_collection_unchanged(db):
    c = db.create_collection("m", 2, metadata={"v": 1})
    db.create_collection("taken", 2)
    with pytest.raises(quiver.AlreadyExistsError):
        c.modify(name="taken", metadata={"v": 2})
    assert (c.name, c.metadata) == ("m", {"v": 1})
    with pytest.raises(quiver.ArgumentTypeError, match="name"):
        c.modify(name=3)
    with pytest.raises(quiver.InvalidArgumentError, match="name"):
        c.modify(name="a\0b")
    with pytest.raises(quiver.InvalidArgumentError, match="name"):
        c.modify(name="")
    assert (c.name, c.metadata) == ("m", {"v": 1})


def test_reinit_closed_database_refused():
    d = quiver.Database()
    d.close()
    with pytest.raises(quiver.MisuseError):
        d.__init__()

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""A data directory written by quiver 0.1 (store format 1) opens in this release.

tests/fixtures/format1 was written by the 0.1 library: a flat l2 collection of 50 records
(two deleted) with metadata and documents, and an HNSW cosine collection of 300 records (M 8,
ef_construction 50, ef_search set to 77 afterwards; ten deleted, one upserted, one more
deleted). Opening a copy migrates the catalog once (format 2: index kind by name, parameters
as JSON, a delete log) and must keep every record, parameter and index answer.
"""
import os
import shutil

import numpy as np
import pytest

import quiver

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "format1")


@pytest.fixture
def old_dir(tmp_path):
    d = tmp_path / "old"
    shutil.copytree(FIXTURE, d, ignore=shutil.ignore_patterns("*.npy"))
    return str(d)


def exact(X, ids, q, k, metric):
    if metric == "l2":
        d = ((X - q) ** 2).sum(1)
    else:
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        d = 1 - Xn @ (q / np.linalg.norm(q))
    order = np.argsort(d, kind="stable")[:k]
    return [ids[i] for i in order]


def test_format1_directory_opens_and_answers(old_dir):
    X = np.load(os.path.join(FIXTURE, "X.npy"))
    Y = np.load(os.path.join(FIXTURE, "Y.npy"))
    db = quiver.Database(old_dir)
    assert sorted(db.list_collections()) == ["flat_l2", "hnsw_cos"]
    a = db.get_collection("flat_l2")
    assert a.index == "flat" and a.metric == "l2" and a.index_params == {}
    assert a.count() == 48
    got = a.get(ids=["f0", "f3", "f7"], include=["metadatas", "documents", "embeddings"])
    assert got["ids"] == ["f0", "f7"]
    assert got["metadatas"] == [{"i": 0, "even": True}, {"i": 7, "even": False}]
    assert got["documents"] == ["doc number 0", "doc number 7"]
    np.testing.assert_array_equal(np.asarray(got["embeddings"][1], np.float32), X[7])
    live = [i for i in range(50) if i not in (3, 4)]
    for qi in range(5):
        q = X[qi] + 0.01
        res = a.query([q], n_results=5)
        assert res["ids"][0] == exact(X[live], [f"f{i}" for i in live], q, 5, "l2")

    b = db.get_collection("hnsw_cos")
    assert b.index == "hnsw" and b.metric == "cosine"
    assert b.index_params == {"M": 8, "ef_construction": 50, "ef_search": 77, "quantizer": "auto",
                              "rerank": 3, "build_on_codes": True, "keep_floats": False}
    assert b.count() == 289  # 300 - 10 deleted - h298
    vecs = {f"h{i}": Y[i] for i in range(10, 298)}
    vecs["h299"] = Y[0]  # upserted with the first row's vector
    ids = list(vecs)
    M = np.stack([vecs[i] for i in ids])
    hits = 0
    for qi in range(20):
        q = Y[qi * 7 % 300] + 0.05
        res = b.query([q], n_results=10, exact=True)
        want = exact(M, ids, q, 10, "cosine")
        assert res["ids"][0] == want
        approx = b.query([q], n_results=10)["ids"][0]
        hits += len(set(approx) & set(want))
        assert not set(approx) & {f"h{i}" for i in range(10)} and "h298" not in approx
    assert hits >= 190  # the graph loaded from the 0.1 index file still finds them
    # writes after the migration work, and survive a reopen
    b.add(ids=["new"], embeddings=Y[5:6])
    b.delete(ids=["h10"])
    db.close()
    db = quiver.Database(old_dir)
    b = db.get_collection("hnsw_cos")
    assert b.count() == 289
    assert b.get(ids=["new", "h10"])["ids"] == ["new"]
    db.close()


def test_format1_read_only_open_is_refused_clearly(old_dir):
    with pytest.raises(quiver.CorruptError, match="one-time migration"):
        quiver.Database(old_dir, read_only=True)
    db = quiver.Database(old_dir)  # a writer migrates it; then read-only opens work
    db.close()
    ro = quiver.Database(old_dir, read_only=True)
    assert ro.get_collection("flat_l2").count() == 48
    ro.close()


def test_migration_is_logged_once(old_dir, capfd):
    quiver.Database(old_dir).close()
    err = capfd.readouterr().err
    assert err.count("migrated the store from format 1 to format 4") == 1
    quiver.Database(old_dir).close()
    assert "migrated" not in capfd.readouterr().err

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Binary vectors (metric="hamming", packed bits) and the rpforest index kind, from Python.

Hamming top-k against numpy's exact answer (flat exactly; rpforest exactly with a search_k
that reaches every record, and with good recall at its default), manhattan likewise, bool
input packed like numpy.packbits, persistence of both across a reopen, and clear errors.
"""
import numpy as np
import pytest

import quiver


def exact_topk(dist, k):
    order = np.lexsort((np.arange(len(dist)), dist))  # ties by insertion order (the slot)
    return order[:k], dist[order[:k]]


def check_exact(col, queries, base_dist_fn, k=10):
    for q in queries:
        ids, d = col.search(q, k)
        want_ids, want_d = exact_topk(base_dist_fn(q), k)
        assert np.allclose(d, want_d, rtol=1e-5), (d, want_d)
        # ids agree wherever the distance is not tied (within float32 rounding) with the k-th
        kth = want_d[-1] * (1 - 1e-5)
        assert {int(i) for i, x in zip(ids, d) if x < kth} <= {int(i) for i in want_ids}
        assert {int(i) for i, x in zip(want_ids, want_d) if x < kth} <= {int(i) for i in ids}


@pytest.mark.parametrize("kind", ["flat", "rpforest"])
def test_hamming_equals_numpy(db, kind):
    rng = np.random.default_rng(3)
    bits = 200
    B = rng.integers(0, 2, (4000, bits)).astype(bool)
    P = np.packbits(B, axis=1)
    params = {"search_k": 10**7} if kind == "rpforest" else {}
    col = db.create_collection("h", dim=bits, metric="hamming", index=kind, **params)
    col.add_vectors(P)
    assert col.count() == 4000
    Q = np.packbits(rng.integers(0, 2, (25, bits)).astype(bool), axis=1)
    check_exact(col, Q, lambda q: np.unpackbits(P ^ q, axis=1).sum(1).astype(np.float64))
    ids, d = col.search(P[17], 1)
    assert ids == ["17"] and d == [0.0]
    # bool rows are packed like numpy.packbits
    ids2, d2 = col.search(B[17], 1)
    assert ids2 == ["17"] and d2 == [0.0]
    bids, bd = col.search_batch(Q[:3], 4)
    assert len(bids) == 3 and all(len(x) == 4 for x in bids)


def test_hamming_rpforest_recall(db):
    rng = np.random.default_rng(4)
    bits = 128
    centres = rng.integers(0, 2, (20, bits)).astype(bool)
    B = centres[rng.integers(0, 20, 5000)] ^ (rng.random((5000, bits)) < 0.1)
    P = np.packbits(B, axis=1)
    col = db.create_collection("r", dim=bits, metric="hamming", index="rpforest", n_trees=30)
    col.add_vectors(P)
    Q = np.packbits(centres[rng.integers(0, 20, 40)] ^ (rng.random((40, bits)) < 0.1), axis=1)
    hits = 0
    for q in Q:
        ids, d = col.search(q, 10)
        exact = np.sort(np.unpackbits(P ^ q, axis=1).sum(1))[:10]
        hits += sum(1 for x in d if x <= exact[-1])
    assert hits / 400 >= 0.8


@pytest.mark.parametrize("kind", ["flat", "rpforest"])
def test_manhattan_equals_numpy(db, kind):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 20)).astype(np.float32)
    params = {"search_k": 10**7} if kind == "rpforest" else {}
    col = db.create_collection("m", dim=20, metric="manhattan", index=kind, **params)
    col.add_vectors(X)
    Q = rng.standard_normal((20, 20)).astype(np.float32)
    check_exact(col, Q, lambda q: np.abs(X - q).sum(1, dtype=np.float64))


def test_rpforest_recall_and_params(db):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((5000, 32)).astype(np.float32)
    col = db.create_collection("f", dim=32, index="rpforest", n_trees=20)
    flat = db.create_collection("e", dim=32, index="flat")
    col.add_vectors(X)
    flat.add_vectors(X)
    Q = rng.standard_normal((50, 32)).astype(np.float32)

    def recall():
        hit = 0
        for q in Q:
            a = set(col.search(q, 10)[0])
            b = set(flat.search(q, 10)[0])
            hit += len(a & b)
        return hit / 500

    low = recall()
    col.set_params(search_k=4000)
    high = recall()
    assert high >= 0.9 and high >= low
    with pytest.raises(quiver.InvalidArgumentError, match="n_trees"):
        col.set_params(n_trees=3)
    with pytest.raises(quiver.InvalidArgumentError, match="n_trees"):
        db.create_collection("bad", dim=4, index="rpforest", n_trees=0)


def test_binary_persistence(tmp_path):
    rng = np.random.default_rng(7)
    P = np.packbits(rng.integers(0, 2, (1500, 64)).astype(bool), axis=1)
    X = rng.standard_normal((1500, 8)).astype(np.float32)
    d = quiver.Database(str(tmp_path))
    h = d.create_collection("h", dim=64, metric="hamming", index="rpforest", n_trees=10)
    h.add_vectors(P)
    r = d.create_collection("r", dim=8, metric="l2", index="rpforest", n_trees=10)
    r.add_vectors(X)
    before = (h.search(P[3], 5), r.search(X[3], 5))
    d.close()
    d = quiver.Database(str(tmp_path))
    h, r = d.get_collection("h"), d.get_collection("r")
    assert h.count() == 1500 and r.count() == 1500
    assert (h.search(P[3], 5), r.search(X[3], 5)) == before
    info = h.info() if hasattr(h, "info") else None
    if info is not None:
        assert info["dim"] == 64 and info["metric"] == "hamming"
    d.close()


def test_binary_errors(db):
    with pytest.raises(quiver.InvalidArgumentError, match="multiple of 8"):
        db.create_collection("x", dim=12, metric="hamming")
    with pytest.raises(quiver.UnsupportedError, match="hamming"):
        db.create_collection("y", dim=16, metric="hamming", index="hnsw")
    col = db.create_collection("z", dim=16, metric="hamming")
    with pytest.raises(quiver.InvalidArgumentError, match="2 values per vector|expected 2"):
        col.add_vectors(np.zeros((3, 3), np.uint8))
    with pytest.raises(TypeError, match="packed bits"):
        col.add_vectors([[1.0, 2.0]])
    with pytest.raises(TypeError, match="uint8"):
        col.add_vectors(np.zeros((3, 2), np.float32))

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""The lean face used by benchmarks: add_vectors, search, search_batch, set_params."""
import array
import math
import random

import pytest

import quiver


def brute_force(X, q, k, metric="l2"):
    def dist(v):
        if metric == "l2":
            return sum((a - b) ** 2 for a, b in zip(v, q))
        if metric == "ip":
            return 1 - sum(a * b for a, b in zip(v, q))
        if metric == "l1":
            return sum(abs(a - b) for a, b in zip(v, q))
        na = math.sqrt(sum(a * a for a in v))
        nb = math.sqrt(sum(b * b for b in q))
        return 1 - sum(a * b for a, b in zip(v, q)) / (na * nb)
    d = sorted((dist(v), i) for i, v in enumerate(X))
    return [str(i) for _, i in d[:k]], [x for x, _ in d[:k]]


def rand_rows(n, dim, seed):
    rnd = random.Random(seed)
    return [[rnd.uniform(-1, 1) for _ in range(dim)] for _ in range(n)]


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine", "l1"])
def test_search_matches_brute_force(db, metric):
    X = rand_rows(300, 12, 1)
    c = db.create_collection("s", 12, metric=metric)
    c.add_vectors(X)
    for q in rand_rows(5, 12, 2):
        ids, dists = c.search(q, 10)
        want_ids, want_d = brute_force(X, q, 10, metric)
        assert ids == want_ids
        for a, b in zip(dists, want_d):
            assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4)


def test_add_vectors_ids_continue_from_count(db):
    c = db.create_collection("s", 2)
    c.add_vectors([[0, 0], [1, 1]])
    c.add_vectors([[2, 2]])
    assert c.get()["ids"] == ["0", "1", "2"]
    assert c.search([2, 2], 1) == (["2"], [0.0])
    c.add_vectors([])  # nothing to add is fine
    assert c.count() == 3


def test_search_returns_lists_and_default_k(db):
    c = db.create_collection("s", 2)
    c.add_vectors([[float(i), 0.0] for i in range(20)])
    ids, dists = c.search([0.0, 0.0])
    assert isinstance(ids, list) and isinstance(dists, list) and len(ids) == 10
    assert all(isinstance(i, str) for i in ids) and all(isinstance(d, float) for d in dists)
    assert c.search(q=[0.0, 0.0], k=3)[0] == ["0", "1", "2"]
    assert c.search([0.0, 0.0], 100)[0] == [str(i) for i in range(20)]  # fewer than k


def test_search_agrees_with_query(db):
    X = rand_rows(200, 8, 3)
    Q = rand_rows(6, 8, 4)
    c = db.create_collection("s", 8)
    c.add_vectors(X)
    r = c.query(Q, n_results=7, include=["distances"])
    ids, dists = c.search_batch(Q, 7)
    assert ids == r["ids"] and dists == r["distances"]
    for i, q in enumerate(Q):
        assert c.search(q, 7) == (r["ids"][i], r["distances"][i])


def test_numpy_inputs(db):
    import numpy as np
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 16)).astype(np.float32)
    c = db.create_collection("s", 16)
    c.add_vectors(X)
    Q = rng.standard_normal((8, 16)).astype(np.float32)
    ids, dists = c.search_batch(Q, 5)
    for i in range(8):
        assert c.search(Q[i], 5) == (ids[i], dists[i])                  # row view, zero copy
        assert c.search(Q[i].astype(np.float64), 5)[0] == ids[i]        # float64 converted
        assert c.search(Q[i].tolist(), 5)[0] == ids[i]                  # list
        assert c.search(array.array("f", Q[i].tolist()), 5)[0] == ids[i]  # any float32 buffer
        assert c.search(Q[i:i + 1], 5)[0] == ids[i]                     # a (1, dim) array
    assert c.search_batch(Q[::2], 5)[0] == ids[::2]                     # non-contiguous
    assert c.search_batch(Q.astype(np.float64), 5)[0] == ids
    assert c.search_batch(Q.tolist(), 5)[0] == ids
    d2 = ((X - Q[0]) ** 2).sum(axis=1)
    assert ids[0] == [str(i) for i in np.argsort(d2, kind="stable")[:5]]


def test_annbench_adapter_flow(db):
    """Exactly what ../shared/bench/annbench's Quiver adapters do."""
    import numpy as np
    rng = np.random.default_rng(9)
    X = rng.standard_normal((1000, 24)).astype(np.float32)
    col = db.create_collection("bench", dim=int(X.shape[1]), metric="l2", index="flat")
    col.add_vectors(X)
    q = X[17].copy()
    ids, dists = col.search(q, 10)
    assert [int(i) for i in ids][0] == 17 and dists[0] == 0.0
    res = col.search_batch(X[:50], 10)[0]
    assert [int(r[0]) for r in res] == list(range(50))


def test_hnsw_set_params(db):
    col = db.create_collection("h", 8, metric="l2", index="hnsw", M=8, ef_construction=64)
    X = rand_rows(500, 8, 6)
    col.add_vectors(X)
    col.set_params(ef_search=200)
    hit = 0
    for q in rand_rows(20, 8, 7):
        hit += len(set(col.search(q, 10)[0]) & set(brute_force(X, q, 10)[0]))
    assert hit / 200 >= 0.9
    with pytest.raises(quiver.InvalidArgumentError, match="ef_search"):
        col.set_params(ef_search=0)
    with pytest.raises(quiver.InvalidArgumentError, match="bogus"):
        col.set_params(bogus=3)


def test_flat_has_no_knobs(db):
    c = db.create_collection("f", 2)
    with pytest.raises(quiver.InvalidArgumentError, match="ef_search"):
        c.set_params(ef_search=10)
    c.set_params()  # nothing to set


def test_search_does_not_leak_refs(db):
    import sys
    import numpy as np
    c = db.create_collection("s", 4)
    c.add_vectors(np.eye(4, dtype=np.float32))
    q = np.ones(4, np.float32)
    before = sys.getrefcount(q)
    for _ in range(1000):
        c.search(q, 2)
        c.search_batch(q[None, :], 2)
    assert sys.getrefcount(q) == before

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""The ivf index kind from Python: its parameters pass through create_collection(**kwargs) and
set_params untouched (no code in the module names them), recall against numpy's exact answer,
persistence with the floats left in the store, deletes, filters, and binary codes whose
Hamming top-k equals numpy's."""
import numpy as np
import pytest

import quiver


def clustered(n, dim, seed, centers=40):
    rng = np.random.default_rng(1234)
    c = rng.uniform(-1, 1, (centers, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, centers, n)
    return (c[lab] + 0.15 * rng.standard_normal((n, dim))).astype(np.float32)


def exact_topk(X, Q, k):
    d = ((Q[:, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(-1)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def recall(col, X, Q, k=10, alive=None):
    truth = exact_topk(X, Q, k) if alive is None else alive[exact_topk(X[alive], Q, k)]
    hit = 0
    for q, t in zip(Q, truth):
        ids, _ = col.search(q, k)
        hit += len({int(i) for i in ids} & {int(i) for i in t})
    return hit / truth.size


def test_ivf_pq_through_create_collection(tmp_path):
    X, Q = clustered(4000, 32, 1), clustered(50, 32, 2)
    db = quiver.Database(str(tmp_path / "d"))
    col = db.create_collection("v", dim=32, metric="l2", index="ivf", nlist=32, nprobe=4, quantizer="pq",
                               pq_m=16, pq_bits=4, rerank=8)
    assert col.index_params == {"nlist": 32, "nprobe": 4, "quantizer": "pq", "pq_m": 16, "pq_bits": 4, "rerank": 8,
                          "keep_floats": False, "train_size": 0, "refine": 0}
    col.add_vectors(X)
    r4 = recall(col, X, Q)
    col.set_params(nprobe=32)  # every cell
    r32 = recall(col, X, Q)
    assert r32 >= 0.95 and r32 >= r4, (r4, r32)
    with pytest.raises(quiver.InvalidArgumentError, match="nlist"):
        col.set_params(nlist=8)
    # the floats stay in the store: a record's embedding still comes back whole
    got = col.get(ids=["7"], include=["embeddings"])
    assert np.allclose(np.asarray(got["embeddings"][0], dtype=np.float32), X[7])
    # deletes: never returned again
    gone = [str(i) for i in range(0, 4000, 5)]
    col.delete(ids=gone)
    alive = np.array([i for i in range(4000) if i % 5], dtype=np.int64)
    for q in Q[:20]:
        ids, _ = col.search(q, 10)
        assert not {int(i) for i in ids} & set(range(0, 4000, 5))
    r_del = recall(col, X, Q, alive=alive)
    assert r_del >= 0.95, r_del
    # a filter the planner answers exactly from the store's floats
    res = col.query(Q[:1].tolist(), n_results=3, where={"$and": [{"missing": 1}, {"missing": 2}]})
    assert res["ids"] == [[]]
    db.close()
    # reopened: parameters and answers survive
    db = quiver.Database(str(tmp_path / "d"))
    col2 = db.get_collection("v")
    assert col2.index_params["nprobe"] == 32 and col2.index_params["quantizer"] == "pq"
    assert recall(col2, X, Q, alive=alive) == r_del
    db.close()


def test_ivf_bad_parameters_are_named():
    db = quiver.Database()
    with pytest.raises(quiver.InvalidArgumentError, match="quantizer"):
        db.create_collection("a", dim=8, index="ivf", quantizer="pq9")
    with pytest.raises(quiver.InvalidArgumentError, match="nprobe"):
        db.create_collection("b", dim=8, index="ivf", nprobe=0)
    with pytest.raises(quiver.InvalidArgumentError, match="pq_bits"):
        db.create_collection("c", dim=8, index="ivf", pq_bits=6)
    with pytest.raises(quiver.InvalidArgumentError, match="pq_m: 5 does not divide dim 8"):
        db.create_collection("d", dim=8, index="ivf", quantizer="pq", pq_m=5)
    # dim fixed by the first write: the error comes with it
    col = db.get_or_create_collection("e", index="ivf", quantizer="pq", pq_m=5)
    with pytest.raises(quiver.InvalidArgumentError, match="pq_m"):
        col.add_vectors([[0.0] * 8])


@pytest.mark.parametrize("quantizer", ["none", "sq8", "sq4", "rabitq"])
def test_ivf_other_quantizers(quantizer):
    X, Q = clustered(3000, 24, 3), clustered(30, 24, 4)
    db = quiver.Database()
    col = db.create_collection("q", dim=24, index="ivf", nlist=16, nprobe=16, quantizer=quantizer, rerank=8)
    col.add_vectors(X)
    assert recall(col, X, Q) >= 0.95


def test_binary_hamming_topk_equals_numpy():
    rng = np.random.default_rng(5)
    X = np.where(rng.standard_normal((3000, 64)) > 0, 1.0, -1.0).astype(np.float32)
    Q = np.where(rng.standard_normal((20, 64)) > 0, 1.0, -1.0).astype(np.float32)
    db = quiver.Database()
    col = db.create_collection("b", dim=64, index="ivf", nlist=8, nprobe=8, quantizer="binary", rerank=0,
                               train_size=1024)
    col.add_vectors(X)
    bits_x, bits_q = X > 0, Q > 0
    for q, bq in zip(Q, bits_q):
        ham = (bits_x != bq).sum(1)
        want = np.argsort(ham, kind="stable")[:10]
        ids, dists = col.search(q, 10)
        assert [int(i) for i in ids] == want.tolist()
        assert np.array_equal(np.asarray(dists), 4.0 * ham[want])


def test_sq8_refine_matches_full_scan(tmp_path):
    """refine: the high-nibble scan then the full 8-bit codes; a runtime parameter, 0 is the full scan."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(3000, 48)).astype(np.float32)  # integers: 8-bit codes are exact
    with quiver.Database(str(tmp_path)) as db:
        col = db.create_collection("r", dim=48, index="ivf", nlist=16, nprobe=16, quantizer="sq8", rerank=0,
                                   refine=10, train_size=3000)
        col.add_vectors(x)
        assert col.index_params["refine"] == 10
        q = x[:20] + 0.25
        exact = [list(np.argsort(((x - v) ** 2).sum(1), kind="stable")[:10]) for v in q]
        hit = sum(len(set(int(i) for i in col.search(v, 10)[0]) & set(e)) for v, e in zip(q, exact))
        assert hit >= 190
        col.set_params(refine=0)
        full = [[int(i) for i in col.search(v, 10)[0]] for v in q]
        hit0 = sum(len(set(f) & set(e)) for f, e in zip(full, exact))
        assert hit0 >= 190
        with pytest.raises(Exception):
            col.set_params(refine=-1)

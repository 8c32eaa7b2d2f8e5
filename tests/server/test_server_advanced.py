# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/server/test_server_advanced.py -- the native advanced-read routes of `quiver serve`:
POST …/collections/{id}/{range_search, kmeans, combine, interpolate, centroid, recommend,
mmr}. Answers checked against numpy; errors: 400 naming the field, 404 unknown record or
collection, 405 wrong method, 422 wrong JSON type.
"""
import os
import tempfile
import uuid

import numpy as np
import pytest

from test_server import BASE, Server

N, DIM = 400, 5


@pytest.fixture(scope="module")
def srv():
    with tempfile.TemporaryDirectory(prefix="quiver-adv-") as d:
        s = Server(os.path.join(d, "data"), "--max-body", "4M")
        yield s
        assert s.stop() == 0


@pytest.fixture(scope="module")
def loaded(srv):
    cl = srv.client()
    st, c, _ = cl.post(BASE + "/collections", {"name": "adv-" + uuid.uuid4().hex[:8]})
    assert st == 200, c
    X = np.random.default_rng(5).standard_normal((N, DIM)).astype(np.float32)
    p = f"{BASE}/collections/{c['id']}"
    st, b, _ = cl.post(p + "/add", {"ids": [str(i) for i in range(N)], "embeddings": X.tolist(),
                                    "metadatas": [{"odd": i % 2} for i in range(N)]})
    assert st == 201, b
    return cl, p, X


def near(X, q, k, skip=()):
    d = ((X.astype(np.float64) - q) ** 2).sum(1)
    d[list(skip)] = np.inf
    return [str(i) for i in np.argsort(d, kind="stable")[:k]]


def test_range_search(loaded):
    cl, p, X = loaded
    d = ((X.astype(np.float64) - X[3]) ** 2).sum(1)
    r = float(np.sort(d)[19] + np.sort(d)[20]) / 2
    st, b, _ = cl.post(p + "/range_search", {"query_embeddings": [X[3].tolist(), X[4].tolist()], "radius": r})
    assert st == 200, b
    assert len(b["ids"]) == 2 and set(b["ids"][0]) == {str(i) for i in np.where(d <= r)[0]}
    assert b["distances"][0] == sorted(b["distances"][0])
    st, b, _ = cl.post(p + "/range_search", {"query_embeddings": [X[3].tolist()], "radius": r, "limit": 4,
                                             "where": {"odd": 1}, "include": ["metadatas", "distances"]})
    assert st == 200 and len(b["ids"][0]) == 4 and all(m["odd"] == 1 for m in b["metadatas"][0])
    st, b, _ = cl.post(p + "/range_search", {"query_embeddings": [X[3].tolist()]})
    assert st == 400 and "radius" in b["message"]
    assert cl.post(p + "/range_search", {"query_embeddings": [[1, 2]], "radius": 1})[0] == 400
    assert cl.post(p + "/range_search", {"query_embeddings": [X[3].tolist()], "radius": "x"})[0] == 422
    assert cl.get(p + "/range_search")[0] == 405
    assert cl.post(f"{BASE}/collections/{uuid.uuid4()}/range_search", {"radius": 1})[0] == 404


def test_kmeans(loaded):
    cl, p, X = loaded
    st, b, _ = cl.post(p + "/kmeans", {"k": 3, "seed": 4, "where": {"odd": 0}})
    assert st == 200, b
    assert len(b["ids"]) == N // 2 and len(b["centroids"]) == 3 and len(b["centroids"][0]) == DIM
    C = np.array(b["centroids"], np.float64)
    rows = X[[int(i) for i in b["ids"]]].astype(np.float64)
    lab = np.array(b["labels"])
    assert (((rows[:, None] - C[None]) ** 2).sum(2).argmin(1) == lab).all()
    assert b["inertia"] == pytest.approx(((rows - C[lab]) ** 2).sum(), rel=1e-4)
    st, b, _ = cl.post(p + "/kmeans", {"niter": 3})
    assert st == 400 and "k" in b["message"]
    st, b, _ = cl.post(p + "/kmeans", {"k": N + 1})
    assert st == 400


def test_arithmetic(loaded):
    cl, p, X = loaded
    V = X.astype(np.float64)
    st, b, _ = cl.post(p + "/combine", {"terms": [{"id": "1"}, {"id": "2", "weight": -1}, ["3", 1],
                                                  {"embedding": X[4].tolist(), "weight": 0.5}], "n_results": 3})
    assert st == 200, b
    assert b["ids"][0] == near(X, V[1] - V[2] + V[3] + 0.5 * V[4], 3, (1, 2, 3))
    st, b, _ = cl.post(p + "/interpolate", {"a": "7", "b": X[8].tolist(), "t": 0.25, "n_results": 2})
    assert st == 200 and b["ids"][0] == near(X, 0.75 * V[7] + 0.25 * V[8], 2, (7,))
    st, b, _ = cl.post(p + "/centroid", {"ids": ["9", "10", "11"], "n_results": 2, "exclude_inputs": False})
    assert st == 200 and b["ids"][0] == near(X, V[[9, 10, 11]].mean(0), 2)
    st, b, _ = cl.post(p + "/combine", {"terms": [{"id": "nope"}]})
    assert st == 404 and "terms[0]" in b["message"]
    st, b, _ = cl.post(p + "/combine", {"terms": []})
    assert st == 400
    st, b, _ = cl.post(p + "/interpolate", {"a": "1", "b": "2"})
    assert st == 400 and "t" in b["message"]


def test_recommend_and_mmr(loaded):
    cl, p, X = loaded
    V = X.astype(np.float64)
    st, b, _ = cl.post(p + "/recommend", {"positive": ["1", "2"], "negative": ["3"], "strategy": "best_score",
                                          "n_results": 5})
    assert st == 200, b
    s = np.maximum(-((V - V[1]) ** 2).sum(1), -((V - V[2]) ** 2).sum(1)) + ((V - V[3]) ** 2).sum(1)
    s[[1, 2, 3]] = -np.inf
    assert b["ids"][0] == [str(i) for i in np.argsort(-s, kind="stable")[:5]]
    assert b["distances"][0] == sorted(b["distances"][0], reverse=True)
    st, b, _ = cl.post(p + "/recommend", {"positive": ["1"], "strategy": "nope"})
    assert st == 400 and "strategy" in b["message"]
    st, b, _ = cl.post(p + "/recommend", {"negative": ["1"]})
    assert st == 400 and "positive" in b["message"]
    q = X[0].tolist()
    plain = cl.post(p + "/query", {"query_embeddings": [q], "n_results": 5})[1]["ids"][0]
    st, b, _ = cl.post(p + "/mmr", {"query_embeddings": [q], "n_results": 5, "mmr_lambda": 1, "fetch_k": 30})
    assert st == 200 and b["ids"][0] == plain
    st, b, _ = cl.post(p + "/mmr", {"query_embeddings": [q], "n_results": 5, "mmr_lambda": 0.2, "fetch_k": 30})
    assert st == 200 and b["ids"][0][0] == plain[0] and b["ids"][0] != plain
    st, b, _ = cl.post(p + "/mmr", {"query_embeddings": [q], "mmr_lambda": 5})
    assert st == 400 and "mmr_lambda" in b["message"]


def test_text_and_hybrid(srv):
    import sqlite3
    cl = srv.client()
    st, c, _ = cl.post(BASE + "/collections", {"name": "txt-" + uuid.uuid4().hex[:8]})
    p = f"{BASE}/collections/{c['id']}"
    docs = ["red apple pie", "green apple", "red car", "blue sky and red sun", "apple apple apple"]
    assert cl.post(p + "/add", {"ids": [f"d{i}" for i in range(5)], "documents": docs,
                                "embeddings": [[float(i), 1.0, 0.0] for i in range(5)]})[0] == 201
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE f USING fts5(document)")
    for i, d in enumerate(docs):
        con.execute("INSERT INTO f(rowid, document) VALUES(?, ?)", (i, d))
    want = con.execute("SELECT rowid, -bm25(f) FROM f WHERE f MATCH 'red' ORDER BY bm25(f)").fetchall()
    st, b, _ = cl.post(p + "/text_search", {"text": "red", "include": ["documents", "distances"]})
    assert st == 200, b
    assert b["ids"][0] == [f"d{r}" for r, _ in want]
    assert b["distances"][0] == pytest.approx([s for _, s in want], rel=1e-6)
    assert b["documents"][0][0] == docs[want[0][0]]
    st, b, _ = cl.post(p + "/hybrid_search", {"text": "red", "query_embeddings": [[3, 1, 0]], "n_results": 2,
                                              "fusion": "weighted", "alpha": 0.5})
    assert st == 200 and b["ids"][0][0] == "d2"  # best text score, second-nearest vector
    assert cl.post(p + "/text_search", {})[0] == 400
    assert cl.post(p + "/hybrid_search", {"text": "red", "query_embeddings": [[3, 1, 0]], "fusion": "x"})[0] == 400
    assert cl.post(p + "/hybrid_search", {"text": "red"})[0] == 400

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cli/test_cli_advanced.py -- the advanced reads on the command line: range, kmeans
(--label-key persisted), combine, interpolate, centroid, recommend, query --mmr. Answers are
checked against numpy's exact computation; usage errors exit 2, runtime errors 1.
"""
import json

import numpy as np
import pytest

from test_cli import Quiver, write_jsonl  # noqa: F401  (the same runner)

N, DIM = 300, 6


@pytest.fixture
def data(tmp_path):
    q = Quiver(tmp_path / "data")
    X = np.random.default_rng(3).standard_normal((N, DIM)).astype(np.float32)
    recs = [{"id": str(i), "embedding": [float(v) for v in X[i]], "metadata": {"odd": i % 2}} for i in range(N)]
    q.ok("create", "v", "--dim", DIM)
    q.ok("import", "v", write_jsonl(tmp_path / "v.jsonl", recs))
    return q, X


def ids_of(out):
    return out["ids"][0]


def nearest(X, qv, k, skip=()):
    d = ((X.astype(np.float64) - qv) ** 2).sum(1)
    d[list(skip)] = np.inf
    return [str(i) for i in np.argsort(d, kind="stable")[:k]]


def test_range(data):
    q, X = data
    d = ((X.astype(np.float64) - X[5]) ** 2).sum(1)
    r = float(np.sort(d)[9] + np.sort(d)[10]) / 2
    vec = ",".join(repr(float(v)) for v in X[5])
    out = q.json("range", "v", "--radius", r, "--vector", vec)
    assert set(ids_of(out)) == {str(i) for i in np.where(d <= r)[0]}
    assert out["distances"][0] == sorted(out["distances"][0])
    out = q.json("range", "v", "--radius", r, "--vector", vec, "--limit", 3, "--where", '{"odd": 1}')
    assert ids_of(out) == [i for i in nearest(X, X[5], N) if int(i) % 2 == 1 and d[int(i)] <= r][:3]
    # two vectors from stdin: a batch, one row each
    two = q.json("range", "v", "--radius", r, input=vec + "\n" + ",".join(repr(float(v)) for v in X[6]))
    assert len(two["ids"]) == 2 and two["ids"][0] == ids_of(q.json("range", "v", "--radius", r, "--vector", vec))
    q.fails(2, "range", "v", "--vector", vec)  # no radius
    q.fails(2, "range", "v", "--radius", "x", "--vector", vec)
    q.fails(1, "range", "v", "--radius", 1, "--vector", "1,2")


def test_kmeans_and_label_key(data):
    q, X = data
    out = q.json("kmeans", "v", "-k", 4, "--seed", 7)
    assert len(out["centroids"]) == 4 and len(out["centroids"][0]) == DIM
    labels = np.array(out["labels"])
    C = np.array(out["centroids"])
    rows = X[[int(i) for i in out["ids"]]].astype(np.float64)
    want = ((rows - C[labels]) ** 2).sum(1)
    assert out["inertia"] == pytest.approx(want.sum(), rel=1e-4)
    assert (((rows[:, None] - C[None]) ** 2).sum(2).argmin(1) == labels).all()
    assert sum(out["sizes"]) == N
    text = q.ok("kmeans", "v", "-k", 4, "--seed", 7, "--label-key", "cl").stdout
    assert "inertia" in text and "cl" in text
    got = q.json("get", "v", "--ids", "0,1,2")
    assert [m["cl"] for m in got["metadatas"]] == out["labels"][:3]
    q.fails(2, "kmeans", "v")
    q.fails(1, "kmeans", "v", "-k", N + 1)


def test_combine_interpolate_centroid(data):
    q, X = data
    V = X.astype(np.float64)
    out = q.json("combine", "v", "--term", "1", "--term", "2=-1", "--term", "3", "-k", 3)
    assert ids_of(out) == nearest(X, V[1] - V[2] + V[3], 3, (1, 2, 3))
    out = q.json("interpolate", "v", "10", "20", "-t", 0.3, "-k", 3)
    assert ids_of(out) == nearest(X, 0.7 * V[10] + 0.3 * V[20], 3, (10, 20))
    out = q.json("centroid", "v", "4", "5", "6", "-k", 2)
    assert ids_of(out) == nearest(X, (V[4] + V[5] + V[6]) / 3, 2, (4, 5, 6))
    out = q.json("centroid", "v", "4", "5", "6", "-k", 4, "--include-inputs")
    assert ids_of(out) == nearest(X, (V[4] + V[5] + V[6]) / 3, 4)
    p = q.fails(1, "combine", "v", "--term", "nope")
    assert "nope" in p.stderr
    q.fails(2, "combine", "v")
    q.fails(2, "interpolate", "v", "1", "2")


def test_recommend_and_mmr(data):
    q, X = data
    V = X.astype(np.float64)
    out = q.json("recommend", "v", "--positive", "1", "--positive", "2", "--negative", "3",
                 "--strategy", "best_score", "-k", 5)
    s = np.maximum(-((V - V[1]) ** 2).sum(1), -((V - V[2]) ** 2).sum(1)) + ((V - V[3]) ** 2).sum(1)
    s[[1, 2, 3]] = -np.inf
    assert ids_of(out) == [str(i) for i in np.argsort(-s, kind="stable")[:5]]
    q.fails(2, "recommend", "v", "--positive", "1", "--strategy", "best")
    vec = ",".join(repr(float(v)) for v in X[0])
    plain = ids_of(q.json("query", "v", "--vector", vec, "-k", 5))
    assert ids_of(q.json("query", "v", "--vector", vec, "-k", 5, "--mmr", 1, "--fetch-k", 30)) == plain
    div = ids_of(q.json("query", "v", "--vector", vec, "-k", 5, "--mmr", 0.2, "--fetch-k", 30))
    assert div[0] == plain[0] and div != plain
    q.fails(2, "query", "v", "--vector", vec, "--mmr", 3)


def fts5(docs, word):
    import sqlite3
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE f USING fts5(document)")
    for i, d in enumerate(docs):
        con.execute("INSERT INTO f(rowid, document) VALUES(?, ?)", (i, d))
    return con.execute("SELECT rowid, -bm25(f) FROM f WHERE f MATCH ? ORDER BY bm25(f)", (word,)).fetchall()


def test_text_and_hybrid(tmp_path):
    q = Quiver(tmp_path / "data")
    docs = ["red apple pie", "green apple", "red car", "blue sky and red sun", "apple apple apple"]
    recs = [{"id": f"d{i}", "embedding": [float(i), 1.0, 0.0], "document": d} for i, d in enumerate(docs)]
    q.ok("create", "t", "--dim", 3)
    q.ok("import", "t", write_jsonl(tmp_path / "t.jsonl", recs))
    out = q.json("text", "t", "apple")
    want = fts5(docs, "apple")
    assert ids_of(out) == [f"d{r}" for r, _ in want]
    np.testing.assert_allclose(out["distances"][0], [s for _, s in want], rtol=1e-6)
    out = q.json("hybrid", "t", "red", "--vector", "3,1,0", "-k", 2)
    assert ids_of(out) == ["d2", "d3"]  # RRF: text rank 1 + vector rank 2 beats vector 1 + text 3
    q.fails(2, "hybrid", "t", "red")
    q.fails(2, "hybrid", "t", "red", "--vector", "1,1,0", "--fusion", "max")
    q.fails(1, "text", "t", "  ")

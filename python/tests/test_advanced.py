# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Advanced reads: range search, k-means, vector arithmetic, recommendation, MMR.

Every answer is compared with numpy's exact computation of the same definition.
"""
import numpy as np
import pytest

import quiver


def data(n=1500, dim=16, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def dists(X, q, metric):
    X = X.astype(np.float64)
    q = np.asarray(q, np.float64)
    if metric == "l2":
        return ((X - q) ** 2).sum(1)
    if metric == "ip":
        return 1 - X @ q
    if metric == "l1":
        return np.abs(X - q).sum(1)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    return 1 - Xn @ (q / np.linalg.norm(q))


def unit(X):
    return X / np.linalg.norm(X, axis=-1, keepdims=True)


def make(db, X, metric="l2", index="flat", name="c", **kw):
    c = db.create_collection(name, X.shape[1], metric=metric, index=index, **kw)
    c.add_vectors(X)
    return c


# ---------------------------------------------------------------- range search

@pytest.mark.parametrize("metric", ["l2", "ip", "cosine", "l1"])
def test_range_flat_is_the_exact_set(db, metric):
    X = data()
    c = make(db, X, metric)
    for qi in range(5):
        q = X[qi] + 0.05
        d = dists(X, q, metric)
        for want in (1, 10, 100):
            r = float(np.sort(d)[want - 1] + np.sort(d)[want]) / 2  # between the want-th and next
            ids, ds = c.range_search(q, r)
            exact = set(np.where(d <= r)[0].tolist())
            assert set(map(int, ids)) == exact
            assert len(ids) == want
            assert ds == sorted(ds)
            np.testing.assert_allclose(ds, d[list(map(int, ids))], rtol=1e-4, atol=1e-4)


def test_range_limit_where_and_empty(db):
    X = data()
    c = db.create_collection("c", 16)
    c.add([str(i) for i in range(len(X))], X, metadatas=[{"odd": i % 2} for i in range(len(X))])
    q = X[3]
    d = dists(X, q, "l2")
    r = float(np.sort(d)[50] + np.sort(d)[51]) / 2
    ids, ds = c.range_search(q, r, limit=7)
    assert list(map(int, ids)) == list(np.argsort(d, kind="stable")[:7])
    ids, _ = c.range_search(q, r, where={"odd": 1})
    assert set(map(int, ids)) == {i for i in np.where(d <= r)[0].tolist() if i % 2 == 1}
    assert c.range_search(q, -1.0) == ([], [])
    with pytest.raises(quiver.InvalidArgumentError, match="radius"):
        c.range_search(q, float("nan"))
    with pytest.raises(quiver.InvalidArgumentError):
        c.range_search(q[:5], r)


def test_range_batch_equals_single(db):
    X = data()
    for kind in ("flat", "hnsw"):
        c = make(db, X, index=kind, name=kind)
        Q = X[:40] + 0.01
        r = 20.0
        batch = c.range_search_batch(Q, r)
        assert len(batch) == 40
        for i in range(40):
            assert batch[i] == c.range_search(Q[i], r)


def test_range_hnsw_recall(db):
    X = data(4000, 24, 3)
    c = make(db, X, index="hnsw")
    found = total = 0
    for qi in range(30):
        q = X[qi] * 0.9
        d = dists(X, q, "l2")
        r = float(np.sort(d)[60] + np.sort(d)[61]) / 2
        ids, ds = c.range_search(q, r)
        exact = set(np.where(d <= r)[0].tolist())
        assert set(map(int, ids)) <= exact  # nothing beyond the radius
        assert all(x <= np.float32(r) for x in ds)
        found += len(exact & set(map(int, ids)))
        total += len(exact)
    assert found / total >= 0.95
    # exact=True on the graph gives the exact set
    q = X[0] * 0.9
    d = dists(X, q, "l2")
    r = float(np.sort(d)[100] + np.sort(d)[101]) / 2
    assert set(map(int, c.range_search(q, r, exact=True)[0])) == set(np.where(d <= r)[0].tolist())


# ---------------------------------------------------------------- k-means

def blobs(k=5, per=200, dim=8, seed=1):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, dim)) * 20
    X = np.concatenate([centers[j] + rng.standard_normal((per, dim)) for j in range(k)]).astype(np.float32)
    return X, np.repeat(np.arange(k), per)


def test_kmeans_recovers_blobs(db):
    X, truth = blobs()
    c = make(db, X)
    r = c.kmeans(5, seed=3)
    assert r["centroids"].shape == (5, 8) and r["centroids"].dtype == np.float32
    assert r["ids"] == [str(i) for i in range(len(X))]
    labels = np.array(r["labels"])
    # the same partition up to renaming
    for j in range(5):
        assert len(set(labels[truth == j].tolist())) == 1
    C = r["centroids"].astype(np.float64)
    want_d = ((X - C[labels]) ** 2).sum(1)
    np.testing.assert_allclose(r["distances"], want_d, rtol=1e-3, atol=1e-3)
    assert r["inertia"] == pytest.approx(want_d.sum(), rel=1e-4)
    # each label is the nearest centroid
    full = ((X[:, None, :].astype(np.float64) - C[None]) ** 2).sum(2)
    assert (full.argmin(1) == labels).all()
    assert sum(r["sizes"]) == len(X)
    for j in range(5):
        members = np.where(labels == j)[0]
        assert int(r["nearest"][j]) == members[np.argmin(want_d[members])]


def test_kmeans_seed_redo_sample_and_errors(db):
    X = data(1200, 8, 5)
    c = make(db, X)
    a, b = c.kmeans(7, seed=11), c.kmeans(7, seed=11)
    assert a["labels"] == b["labels"] and a["inertia"] == b["inertia"]
    best = c.kmeans(7, seed=11, nredo=4)
    assert best["inertia"] <= a["inertia"] + 1e-6
    s = c.kmeans(7, seed=2, max_points=300, init="random")
    assert len(s["labels"]) == 1200  # every record assigned
    with pytest.raises(quiver.InvalidArgumentError, match="k"):
        c.kmeans(5000)
    with pytest.raises(quiver.InvalidArgumentError, match="init"):
        c.kmeans(3, init="bogus")


def test_kmeans_spherical_where_label_key(db):
    X, truth = blobs(3, 100, 6, 4)
    c = db.create_collection("s", 6, metric="cosine")
    c.add([str(i) for i in range(len(X))], X, metadatas=[{"half": int(i >= 150)} for i in range(len(X))])
    r = c.kmeans(2, seed=1, where={"half": 0}, label_key="cluster")
    assert len(r["ids"]) == 150
    np.testing.assert_allclose(np.linalg.norm(r["centroids"], axis=1), 1, rtol=1e-5)
    C = r["centroids"].astype(np.float64)
    U = unit(X[:150].astype(np.float64))
    np.testing.assert_allclose(r["distances"], 1 - (U * C[r["labels"]]).sum(1), atol=1e-4)
    got = c.get(ids=r["ids"])
    assert [m["cluster"] for m in got["metadatas"]] == r["labels"]
    assert all("cluster" not in (m or {}) for m in c.get(where={"half": 1})["metadatas"])


# ---------------------------------------------------------------- vector arithmetic

def exact_topk(X, q, k, metric, exclude=()):
    d = dists(X, q, metric)
    d[list(exclude)] = np.inf
    return [str(i) for i in np.argsort(d, kind="stable")[:k]]


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_combine_analogy(db, metric):
    X = data(2000, 24, 7)
    c = make(db, X, metric)
    V = unit(X.astype(np.float64)) if metric == "cosine" else X.astype(np.float64)
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b, e = rng.choice(len(X), 3, replace=False)
        q = V[a] - V[b] + V[e]
        ids, _ = c.combine([(str(a), 1), (str(b), -1), (str(e), 1)], k=5)
        assert ids == exact_topk(X, q, 5, metric, exclude=(a, b, e))
    ids, _ = c.combine([(str(a), 1)], k=1, exclude_inputs=False)
    assert ids == [str(a)]
    ids, _ = c.combine([(X[5], 2.0), ("6", 0.5)], k=3)  # a vector term
    assert ids == exact_topk(X, 2 * (unit(X[5]) if metric == "cosine" else X[5]) + 0.5 * V[6], 3, metric, (6,))
    with pytest.raises(quiver.NotFoundError, match="terms\\[1\\]"):
        c.combine([("1", 1), ("nope", 1)])
    with pytest.raises(quiver.InvalidArgumentError, match="terms\\[0\\]"):
        c.combine([(X[0][:3], 1)])


def slerp(a, b, t):
    a, b = unit(a), unit(b)
    w = np.arccos(np.clip(a @ b, -1, 1))
    return (np.sin((1 - t) * w) * a + np.sin(t * w) * b) / np.sin(w)


def test_interpolate_and_centroid(db):
    X = data(2000, 24, 8)
    cos = make(db, X, "cosine", name="cos")
    l2 = make(db, X, "l2", name="l2")
    for t in (0.25, 0.5, 0.8):
        ids, _ = cos.interpolate("10", "20", t, k=5)
        assert ids == exact_topk(X, slerp(X[10].astype(np.float64), X[20].astype(np.float64), t), 5, "cosine", (10, 20))
        ids, _ = l2.interpolate("10", X[20], t, k=5)
        assert ids == exact_topk(X, (1 - t) * X[10] + t * X[20].astype(np.float64), 5, "l2", (10,))
        lin, _ = cos.interpolate("10", "20", t, k=5, spherical=False)
        assert lin == exact_topk(X, (1 - t) * unit(X[10]) + t * unit(X[20]), 5, "cosine", (10, 20))
    ids, _ = l2.centroid_search(["1", "2", "3"], k=4)
    assert ids == exact_topk(X, X[[1, 2, 3]].astype(np.float64).mean(0), 4, "l2", (1, 2, 3))
    ids, _ = cos.centroid_search(["1", "2", "3"], k=4, exclude_inputs=False)
    assert ids == exact_topk(X, unit(X[[1, 2, 3]].astype(np.float64)).mean(0), 4, "cosine")
    with pytest.raises(quiver.NotFoundError, match="ids\\[1\\]"):
        l2.centroid_search(["1", "zz"])


# ---------------------------------------------------------------- recommendation

def brute_best_score(V, pos, neg, metric, k):
    def sim(a):
        if metric in ("ip", "cosine"):
            return V @ a
        return -((V - a) ** 2).sum(1)
    s = np.max([sim(V[p]) for p in pos], axis=0)
    if neg:
        s = s - np.max([sim(V[n]) for n in neg], axis=0)
    s[list(pos) + list(neg)] = -np.inf
    return [str(i) for i in np.argsort(-s, kind="stable")[:k]], np.sort(s)[::-1][:k]


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_recommend_best_score_flat_is_exact(db, metric):
    X = data(1500, 16, 9)
    c = make(db, X, metric)
    V = unit(X.astype(np.float64)) if metric == "cosine" else X.astype(np.float64)
    rng = np.random.default_rng(2)
    agree = 0
    for _ in range(10):
        ex = rng.choice(len(X), 5, replace=False)
        pos, neg = ex[:3].tolist(), ex[3:].tolist()
        ids, scores = c.recommend([str(p) for p in pos], [str(n) for n in neg], k=10, strategy="best_score")
        want, want_s = brute_best_score(V, pos, neg, metric, 10)
        agree += len(set(ids) & set(want))
        assert scores == sorted(scores, reverse=True)
        assert not set(ids) & {str(x) for x in ex}
    assert agree / 100 >= 0.9


def test_recommend_best_score_hnsw(db):
    X = data(5000, 24, 10)
    c = make(db, X, "cosine", "hnsw")
    V = unit(X.astype(np.float64))
    rng = np.random.default_rng(3)
    agree = 0
    for _ in range(10):
        ex = rng.choice(len(X), 4, replace=False)
        pos, neg = ex[:2].tolist(), ex[2:].tolist()
        ids, _ = c.recommend([str(p) for p in pos], [X[n] for n in neg], k=10, strategy="best_score")
        want, _ = brute_best_score(V, pos, neg, "cosine", 10)
        agree += len(set(ids) & set(want))
    assert agree / 100 >= 0.9


def test_recommend_average(db):
    X = data(1500, 16, 11)
    c = make(db, X, "cosine")
    V = unit(X.astype(np.float64))
    q = 2 * V[[1, 2]].mean(0) - V[[3]].mean(0)
    ids, scores = c.recommend(["1", "2"], ["3"], k=6)
    assert ids == exact_topk(X, q, 6, "cosine", (1, 2, 3))
    np.testing.assert_allclose(scores, V[list(map(int, ids))] @ unit(q), atol=1e-5)
    ids, _ = c.recommend(["1", X[2]], k=4)
    assert ids == exact_topk(X, V[[1, 2]].mean(0), 4, "cosine", (1,))
    with pytest.raises(quiver.InvalidArgumentError, match="strategy"):
        c.recommend(["1"], strategy="best")
    with pytest.raises(quiver.InvalidArgumentError, match="positive"):
        c.recommend([])


# ---------------------------------------------------------------- MMR

def mmr_numpy(X, q, k, lam, fetch_k, metric="l2"):
    d = dists(X, q, metric)
    cand = list(np.argsort(d, kind="stable")[:fetch_k])
    chosen = []
    while len(chosen) < k and cand:
        best, best_s = None, -np.inf
        for i in cand:
            div = max((-dists(X[[j]], X[i], metric)[0] for j in chosen), default=0.0)
            s = lam * -d[i] - (1 - lam) * div
            if best is None or s > best_s:
                best, best_s = i, s
        chosen.append(best)
        cand.remove(best)
    return [str(i) for i in chosen]


def test_mmr(db):
    X = data(800, 8, 12)
    c = make(db, X)
    q = X[0] + 0.1
    plain = c.search(q, 8)
    assert c.search(q, 8, mmr_lambda=1.0, fetch_k=40)[0] == plain[0]
    ids, ds = c.search(q, 8, mmr_lambda=0.5, fetch_k=40)
    assert ids == mmr_numpy(X, q, 8, 0.5, 40)
    np.testing.assert_allclose(ds, dists(X, q, "l2")[list(map(int, ids))], rtol=1e-4)
    assert ids != plain[0]
    with pytest.raises(quiver.InvalidArgumentError, match="mmr_lambda"):
        c.search(q, 5, mmr_lambda=2)
    with pytest.raises(quiver.InvalidArgumentError, match="fetch_k"):
        c.search(q, 5, fetch_k=3)


def test_empty_collection_and_closed(db):
    c = db.create_collection("e", 4)
    assert c.range_search([0, 0, 0, 0], 1.0) == ([], [])
    assert c.search([0, 0, 0, 0], 3, mmr_lambda=0.5) == ([], [])
    with pytest.raises(quiver.NotFoundError):
        c.combine([("x", 1)])
    with pytest.raises(quiver.InvalidArgumentError, match="k"):
        c.kmeans(2)


# ---------------------------------------------------------------- text and hybrid

DOCS = ["the cat sat on the mat", "dogs and cats", "a cat a cat a cat", "nothing here", "mat mat cat dog", None,
        "the quick brown fox", "cat", "fox and dog and cat"]


def fts5_scores(docs, query):
    import sqlite3
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE f USING fts5(document)")
    for i, d in enumerate(docs):
        if d is not None:
            con.execute("INSERT INTO f(rowid, document) VALUES(?, ?)", (i, d))
    return con.execute("SELECT rowid, -bm25(f) FROM f WHERE f MATCH ? ORDER BY bm25(f)", (query,)).fetchall()


@pytest.fixture(params=["memory", "disk"])
def tdb(request, tmp_path):
    d = quiver.Database() if request.param == "memory" else quiver.Database(str(tmp_path / "d"))
    yield d
    d.close()


def text_col(db, docs=DOCS):
    c = db.create_collection("t", 3)
    c.add([str(i) for i in range(len(docs))], data(len(docs), 3, 1), documents=docs,
          metadatas=[{"i": i} for i in range(len(docs))])
    return c


def test_text_search_equals_fts5_bm25(tdb):
    c = text_col(tdb)
    for word in ("cat", "dog", "mat", "fox", "nothing"):
        want = fts5_scores(DOCS, word)
        ids, scores = c.text_search(word, 20)
        assert ids == [str(r) for r, _ in want]
        np.testing.assert_allclose(scores, [s for _, s in want], rtol=1e-6)
    ids, _ = c.text_search("cat", 2)
    assert len(ids) == 2
    ids, _ = c.text_search("cat", 20, where={"i": {"$gt": 3}})
    assert ids == [str(r) for r, _ in fts5_scores(DOCS, "cat") if r > 3]
    assert c.text_search("zebra", 5) == ([], [])
    with pytest.raises(quiver.InvalidArgumentError, match="text"):
        c.text_search("   ", 5)


def test_text_index_follows_writes(tdb):
    c = text_col(tdb)
    c.update(["1"], documents=["cat cat cat"])
    c.delete(["2"])
    c.add(["new"], [[0, 0, 1]], documents=["cat and fox"])
    docs = list(DOCS)
    docs[1], docs[2] = "cat cat cat", None
    docs.append("cat and fox")
    want = fts5_scores(docs, "cat")
    ids, scores = c.text_search("cat", 50)
    assert ids == [str(r) if r < len(DOCS) else "new" for r, _ in want]
    np.testing.assert_allclose(scores, [s for _, s in want], rtol=1e-6)


def test_text_index_survives_reopen_and_drop(tmp_path):
    path = str(tmp_path / "d")
    db = quiver.Database(path)
    text_col(db)
    db.close()
    db = quiver.Database(path)
    c = db.get_collection("t")
    assert c.text_search("fox", 5)[0] == [str(r) for r, _ in fts5_scores(DOCS, "fox")]
    db.delete_collection("t")
    c2 = text_col(db)  # a new collection of the same name starts from its own documents
    assert c2.text_search("fox", 5)[0] == [str(r) for r, _ in fts5_scores(DOCS, "fox")]
    db.close()


def test_hybrid(tdb):
    c = text_col(tdb)
    X = np.asarray(c.get(include=["embeddings"])["embeddings"], np.float64)
    q = X[6] + 0.01
    d = ((X - q) ** 2).sum(1)
    vrank = {str(i): r + 1 for r, i in enumerate(np.argsort(d, kind="stable"))}
    trank = {str(r): n + 1 for n, (r, _) in enumerate(fts5_scores(DOCS, "fox"))}
    want = sorted(vrank, key=lambda i: (-(0.5 / (60 + vrank[i]) + (0.5 / (60 + trank[i]) if i in trank else 0)), i))
    ids, scores = c.hybrid_search("fox", q, 3)
    assert ids[0] == "6" and set(ids) <= set(want[:4])
    assert scores == sorted(scores, reverse=True)
    ids, sc = c.hybrid_search("fox", q, 3, alpha=0.0, fusion="weighted")  # text only: min-max of BM25
    assert ids[0] == str(fts5_scores(DOCS, "fox")[0][0]) and sc[0] == 1.0
    ids, sc = c.hybrid_search("fox", q, 3, alpha=1.0, fusion="weighted")  # vector only
    assert ids == [str(i) for i in np.argsort(d, kind="stable")[:3]] and sc[0] == 1.0
    with pytest.raises(quiver.InvalidArgumentError, match="fusion"):
        c.hybrid_search("fox", q, 3, fusion="sum")
    with pytest.raises(quiver.InvalidArgumentError, match="alpha"):
        c.hybrid_search("fox", q, 3, alpha=2)


def test_where_document_through_the_text_index(tmp_path):
    """A persistent database answers $contains from its trigram index: the same records as a
    scan (the in-memory database), for needles with quotes, unicode, other case, short ones,
    combined with where and $or, after updates and deletes; in get and in query."""
    rng = np.random.default_rng(8)
    words = ["alpha", "Beta", "gamma", 'quo"te', "naïve", "ünï", "x", "delta epsilon", "ALPHA"]
    docs = [" ".join(rng.choice(words, 3)) if i % 7 else None for i in range(400)]
    X = data(400, 4, 2)
    dbs = [quiver.Database(str(tmp_path / "d")), quiver.Database()]
    cols = []
    for d in dbs:
        c = d.create_collection("w", 4)
        c.add([str(i) for i in range(400)], X, documents=docs, metadatas=[{"i": i} for i in range(400)])
        c.update([str(i) for i in range(0, 400, 5)], documents=["changed alpha" for _ in range(0, 400, 5)])
        c.delete([str(i) for i in range(1, 400, 9)])
        cols.append(c)
    needles = ["alpha", "lph", "Beta", "beta", 'o"t', "naïve", "ïv", "ünï", "ep", "a g", "zzz", "changed"]
    for s in needles:
        for wd in ({"$contains": s}, {"$and": [{"$contains": s}, {"$not_contains": "gamma"}]},
                   {"$or": [{"$contains": s}, {"$contains": "delta"}]}):
            a, b = (c.get(where_document=wd, include=[])["ids"] for c in cols)
            assert a == b, (s, wd)
            a, b = (c.get(where_document=wd, where={"i": {"$lt": 200}}, include=[])["ids"] for c in cols)
            assert a == b, (s, wd)
            qa, qb = (c.query([X[0]], n_results=15, where_document=wd, include=["distances"]) for c in cols)
            assert qa["ids"] == qb["ids"], (s, wd)
    for d in dbs:
        d.close()


def test_text_read_only_and_lazy_index(tmp_path):
    """The text index is built on first use; a read-only open of a database that never built
    it answers from an in-memory index, and where_document scans."""
    import sqlite3
    path = str(tmp_path / "d")
    db = quiver.Database(path)
    text_col(db)
    db.close()
    con = sqlite3.connect(str(tmp_path / "d" / "quiver.db"))
    tables = lambda: {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE name LIKE 'fts%'")}  # noqa: E731
    assert not tables()  # nothing until asked
    ro = quiver.Database(path, read_only=True)
    c = ro.get_collection("t")
    assert c.text_search("cat", 20)[0] == [str(r) for r, _ in fts5_scores(DOCS, "cat")]
    assert c.get(where_document={"$contains": "cat"}, include=[])["ids"] == [str(i) for i, d in enumerate(DOCS)
                                                                              if d and "cat" in d]
    ro.close()
    assert not tables()
    db = quiver.Database(path)
    c = db.get_collection("t")
    c.text_search("cat", 3)
    assert {t for t in tables() if "_" in t and t.count("_") == 1} == {"fts_1"}
    c.get(where_document={"$contains": "cat"})
    assert {"fts_1", "ftsg_1"} <= tables()
    c.add(["late"], [[0, 0, 0]], documents=["cat cat"])  # kept in step by the triggers from now on
    assert c.text_search("cat", 1)[0] == ["late"]
    db.close()

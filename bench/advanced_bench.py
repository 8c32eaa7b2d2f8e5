#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench/advanced_bench.py -- the issue-12 checks on Fashion-MNIST (60k x 784, l2).

  range     100 queries at radii giving 1, 10 and 100 hits on average: flat against
            numpy's exact sets (float64 distances), HNSW recall of the exact sets, batch timing;
  kmeans    20k vectors, k = 100, 20 iterations: inertia (sum of squared distances to the final
            centroids, computed the same way for both) and time, quiver (k-means++ and random
            init) against faiss.Kmeans, three seeds each (faiss from the Debian package
            python3-faiss: a benchmark dependency only, the tests do not use it);
  recommend best-score with 3 positive and 2 negative examples on HNSW against a brute-force
            evaluation of the same score: top-10 overlap;
  analogy   a - b + c (inputs excluded) top-1 against numpy's exact answer, flat and HNSW.
Usage: QUIVER_BUILD=build/python /usr/bin/python3 bench/advanced_bench.py [DATA_DIR] [--only NAME]
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.environ.get("QUIVER_BUILD", os.path.join(os.path.dirname(__file__), "..", "build", "python")))
import quiver  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
argv = sys.argv[1:]
ONLY = None
if "--only" in argv:
    i = argv.index("--only")
    ONLY = argv[i + 1]
    del argv[i:i + 2]
DATA = argv[0] if argv else os.path.join(ROOT, ".data", "fashion-mnist-784-euclidean")


def fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].copy().view(np.float32)


X = fvecs(os.path.join(DATA, "base.fvecs"))
Q = fvecs(os.path.join(DATA, "query.fvecs"))[:100]
n, dim = X.shape
print(f"Fashion-MNIST {n} x {dim}, {len(Q)} queries")
db = quiver.Database()
Xd = X.astype(np.float64)
xn = (Xd ** 2).sum(1)


def exact_d(q):
    q = q.astype(np.float64)
    return xn - 2 * Xd @ q + q @ q


flat = hnsw = None


def cols():
    global flat, hnsw
    if flat is None:
        flat = db.create_collection("flat", dim)
        flat.add_vectors(X)
        t = time.perf_counter()
        hnsw = db.create_collection("hnsw", dim, index="hnsw")
        hnsw.add_vectors(X)
        print(f"hnsw build {time.perf_counter() - t:.1f} s")
    return flat, hnsw


def want(name):
    return ONLY is None or name in ONLY.split(",")


if want("range"):
    flat, hnsw = cols()
    D = np.stack([exact_d(q) for q in Q])
    Ds = np.sort(D, axis=1)
    for target in (1, 10, 100):
        lo, hi = float(Ds[:, 0].min()), float(Ds[:, 1000].max())
        for _ in range(60):  # the radius whose mean exact hit count is the target
            r = (lo + hi) / 2
            lo, hi = (r, hi) if (D <= r).sum(1).mean() < target else (lo, r)
        r = (lo + hi) / 2
        exact = [set(np.where(D[i] <= r)[0].tolist()) for i in range(len(Q))]
        mean = np.mean([len(e) for e in exact])
        t = time.perf_counter()
        fb = flat.range_search_batch(Q, r)
        tf = time.perf_counter() - t
        t = time.perf_counter()
        hb = hnsw.range_search_batch(Q, r)
        th = time.perf_counter() - t
        t = time.perf_counter()
        for q in Q:
            hnsw.range_search(q, r)
        th1 = time.perf_counter() - t
        same = sum(set(map(int, fb[i][0])) == exact[i] for i in range(len(Q)))
        diff = sum(len(set(map(int, fb[i][0])) ^ exact[i]) for i in range(len(Q)))
        found = sum(len(set(map(int, hb[i][0])) & exact[i]) for i in range(len(Q)))
        total = sum(len(e) for e in exact)
        print(f"range r={r:.5g}: mean exact hits {mean:.1f}; flat equal sets {same}/{len(Q)} "
              f"(ids differing in total: {diff}), {tf * 1e3 / len(Q):.2f} ms/query batch; "
              f"hnsw recall {found / max(total, 1):.4f}, {th * 1e3 / len(Q):.2f} ms/query batch, "
              f"{th1 * 1e3 / len(Q):.2f} ms/query single")

if want("kmeans"):
    import faiss
    rng = np.random.default_rng(0)
    S = X[rng.choice(n, 20000, replace=False)]
    c = db.create_collection("km", dim)
    c.add_vectors(S)

    def inertia(C):
        Cd = C.astype(np.float64)
        d = (S.astype(np.float64) ** 2).sum(1)[:, None] - 2 * S.astype(np.float64) @ Cd.T + (Cd ** 2).sum(1)[None]
        return d.min(1).sum()

    rows = {}
    for seed in (1, 2, 3):
        t = time.perf_counter()
        km = faiss.Kmeans(dim, 100, niter=20, seed=seed, max_points_per_centroid=100000)
        km.train(S)
        rows.setdefault("faiss", []).append((inertia(km.centroids), time.perf_counter() - t))
        for init in ("k-means++", "random"):
            t = time.perf_counter()
            r = c.kmeans(100, niter=20, seed=seed, init=init)
            el = time.perf_counter() - t
            rows.setdefault("quiver " + init, []).append((inertia(r["centroids"]), el))
            assert abs(r["inertia"] - rows["quiver " + init][-1][0]) / r["inertia"] < 1e-3
    med = np.median([x for x, _ in rows["faiss"]])
    for name, v in rows.items():
        iner = [x for x, _ in v]
        ts = [t for _, t in v]
        print(f"kmeans {name:18s} inertia median {np.median(iner):.6g} ({np.median(iner) / med - 1:+.2%} vs faiss), "
              f"time median {np.median(ts):.2f} s  (runs {', '.join(f'{x:.5g}/{t:.2f}s' for x, t in v)})")

if want("recommend"):
    flat, hnsw = cols()
    rng = np.random.default_rng(4)
    agree = agree_flat = 0
    t_h = 0.0
    for _ in range(50):
        ex = rng.choice(n, 5, replace=False)
        pos, neg = ex[:3], ex[3:]
        s = np.max([-exact_d(X[p]) for p in pos], axis=0) - np.max([-exact_d(X[m]) for m in neg], axis=0)
        s[ex] = -np.inf
        best = set(str(i) for i in np.argsort(-s, kind="stable")[:10])
        t = time.perf_counter()
        ids, _ = hnsw.recommend([str(p) for p in pos], [str(m) for m in neg], k=10, strategy="best_score")
        t_h += time.perf_counter() - t
        agree += len(best & set(ids))
        ids, _ = flat.recommend([str(p) for p in pos], [str(m) for m in neg], k=10, strategy="best_score")
        agree_flat += len(best & set(ids))
    print(f"recommend best_score: hnsw top-10 overlap with brute force {agree / 500:.3f} "
          f"({t_h * 1e3 / 50:.1f} ms/call); flat {agree_flat / 500:.3f}")

if want("analogy"):
    flat, hnsw = cols()
    rng = np.random.default_rng(5)
    ok_f = ok_h = 0
    for _ in range(100):
        a, b, c3 = rng.choice(n, 3, replace=False)
        d = exact_d(Xd[a] - Xd[b] + Xd[c3])
        d[[a, b, c3]] = np.inf
        top1 = str(int(np.argmin(d)))
        terms = [(str(a), 1), (str(b), -1), (str(c3), 1)]
        ok_f += flat.combine(terms, k=1)[0] == [top1]
        ok_h += hnsw.combine(terms, k=1)[0] == [top1]
    print(f"analogy a-b+c top-1 equal to numpy: flat {ok_f}/100, hnsw {ok_h}/100")

#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
make_proxy.py -- low-dimensional cosine datasets for HNSW tuning (issue 18), in annbench's
TEXMEX layout (base.fvecs, query.fvecs, gt.ivecs, meta.json).

  fmnist-pca100-cosine   Fashion-MNIST (shared/data/prepare) centred and projected onto its
                         first 100 principal axes (numpy SVD of the base set), metric cosine.
                         Queries are the 10k test images, projected the same way.
  gmm-300k-100-cosine    300k x 100 synthetic clustered vectors: a gaussian mixture of 2000
                         components whose centres lie near a 30-dimensional subspace, with
                         heavy-tailed component sizes and per-component anisotropic spread
                         (a crude imitation of word embeddings: low intrinsic dimension,
                         hubs, uneven density), metric cosine. 2000 held-out queries drawn
                         from the same mixture.

Ground truth is exact: numpy brute force on unit vectors (1 - cos), 100 neighbours per query.

  /usr/bin/python3 bench/make_proxy.py --fmnist .data/fashion-mnist-784-euclidean OUTDIR

writes OUTDIR/fmnist-pca100-cosine/ and OUTDIR/gmm-300k-100-cosine/. Data is not committed.
"""
import argparse
import json
import os
import sys

import numpy as np


def read_fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = int(a[0])
    return a.reshape(-1, d + 1)[:, 1:].copy().view(np.float32)


def write_vecs(path, x, dtype):
    x = np.ascontiguousarray(x, dtype=dtype)
    n, d = x.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = x.view(np.int32)
    out.tofile(path)


def unit(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return x / n


def exact_gt(base, query, k=100, block=512):
    """Exact cosine neighbours (ties broken by id), best first."""
    b = unit(base.astype(np.float32))
    q = unit(query.astype(np.float32))
    ids = np.empty((len(q), k), dtype=np.int32)
    dist = np.empty((len(q), k), dtype=np.float32)
    for i in range(0, len(q), block):
        s = q[i:i + block] @ b.T  # similarities
        part = np.argpartition(-s, k, axis=1)[:, :k]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.lexsort((part, -ps), axis=1)
        ids[i:i + block] = np.take_along_axis(part, order, axis=1)
        dist[i:i + block] = 1.0 - np.take_along_axis(ps, order, axis=1)
        print(f"  gt {min(i + block, len(q))}/{len(q)}", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    return ids, dist


def write_set(out, name, base, query, note):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    ids, dist = exact_gt(base, query)
    write_vecs(os.path.join(d, "base.fvecs"), base, np.float32)
    write_vecs(os.path.join(d, "query.fvecs"), query, np.float32)
    write_vecs(os.path.join(d, "gt.ivecs"), ids, np.int32)
    write_vecs(os.path.join(d, "gt_dist.fvecs"), dist, np.float32)
    meta = {"name": name, "metric": "cosine", "n": int(base.shape[0]), "nq": int(query.shape[0]),
            "dim": int(base.shape[1]), "k": 100, "source": note}
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    print(f"{name}: {base.shape[0]} x {base.shape[1]}, {query.shape[0]} queries -> {d}", file=sys.stderr)


def fmnist_pca(src, out, dim):
    base = read_fvecs(os.path.join(src, "base.fvecs")).astype(np.float64)
    query = read_fvecs(os.path.join(src, "query.fvecs")).astype(np.float64)
    mu = base.mean(axis=0)
    _, _, vt = np.linalg.svd(base - mu, full_matrices=False)
    p = vt[:dim].T
    write_set(out, f"fmnist-pca{dim}-cosine", ((base - mu) @ p).astype(np.float32),
              ((query - mu) @ p).astype(np.float32),
              f"Fashion-MNIST centred, first {dim} principal axes (bench/make_proxy.py)")


def gmm(out, n, nq, dim, comps, seed):
    rng = np.random.default_rng(seed)
    sub = 30
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    centres = rng.standard_normal((comps, sub)) * 3.0 @ basis[:, :sub].T
    centres += rng.standard_normal((comps, dim)) * 0.5
    w = rng.pareto(1.2, comps) + 1.0  # heavy-tailed cluster sizes
    w /= w.sum()
    spread = np.exp(rng.normal(0.0, 0.4, (comps, dim)))  # anisotropic per component
    def draw(m):
        c = rng.choice(comps, size=m, p=w)
        x = centres[c] + rng.standard_normal((m, dim)) * spread[c]
        return x.astype(np.float32)
    base = draw(n)
    query = draw(nq)
    write_set(out, f"gmm-{n // 1000}k-{dim}-cosine", base, query,
              f"gaussian mixture, {comps} components near a {sub}-d subspace, seed {seed} (bench/make_proxy.py)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--fmnist", help="prepared fashion-mnist-784-euclidean directory")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--gmm-n", type=int, default=300000)
    ap.add_argument("--gmm-queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--only", choices=["fmnist", "gmm"])
    a = ap.parse_args()
    if a.only != "gmm":
        if not a.fmnist:
            ap.error("--fmnist DIR is needed for the Fashion-MNIST proxy")
        fmnist_pca(a.fmnist, a.out, a.dim)
    if a.only != "fmnist":
        gmm(a.out, a.gmm_n, a.gmm_queries, a.dim, 2000, a.seed)


if __name__ == "__main__":
    main()

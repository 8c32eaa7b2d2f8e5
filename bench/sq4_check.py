#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""sq4_check.py D {gmm|pca|rot} QUANTIZERS -- recall@10 of HNSW (M 16, ef_construction 100) at
ef 10/20/40/80 on 50k synthetic cosine vectors of D dimensions (gmm: a gaussian mixture near a
40-d subspace with log-normal per-dimension spread; pca/rot: a decaying spectrum, as is or
randomly rotated), 500 queries, exact ground truth by numpy. Used to decide quantizer auto."""
import sys, numpy as np, time
sys.path.insert(0, __import__('os').environ.get('QUIVER_BUILD', 'build/python'))
import quiver
rng = np.random.default_rng(7)
def gmm(n, d, k=500, sub=40):
    basis = rng.standard_normal((sub, d)).astype(np.float32)
    cent = rng.standard_normal((k, sub)).astype(np.float32) @ basis
    spread = np.exp(rng.standard_normal(d) * 0.8).astype(np.float32)  # anisotropic per dim
    lab = rng.integers(0, k, n)
    X = cent[lab] + rng.standard_normal((n, d)).astype(np.float32) * spread * 0.6
    return X.astype(np.float32)
def pcaish(n, d):
    # decaying spectrum like PCA output / real embeddings with anisotropy
    s = (np.arange(1, d+1) ** -0.7).astype(np.float32)
    R = np.linalg.qr(rng.standard_normal((d, d)))[0].astype(np.float32)
    return (rng.standard_normal((n, d)).astype(np.float32) * s) @ R if sys.argv[2]=='rot' else rng.standard_normal((n, d)).astype(np.float32) * s
d = int(sys.argv[1]); n = 50000; nq = 500
X = gmm(n + nq, d) if sys.argv[2] == 'gmm' else pcaish(n + nq, d)
Q, X = X[:nq], X[nq:]
Xn = X / np.linalg.norm(X, axis=1, keepdims=True); Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
gt = np.argsort(-(Qn @ Xn.T), axis=1)[:, :10]
for qz in sys.argv[3].split(','):
    db = quiver.Database()
    c = db.create_collection("t", dim=d, metric="cosine", index="hnsw", M=16, ef_construction=100, quantizer=qz)
    t = time.time(); c.add_vectors(X); bt = time.time() - t
    out = []
    for ef in (10, 20, 40, 80):
        c.set_params(ef_search=ef)
        hit = 0
        for i in range(nq):
            ids = c.search(Q[i], 10)[0]
            hit += len(set(int(x) for x in ids) & set(gt[i].tolist()))
        out.append(hit / (nq * 10))
    print(sys.argv[1:3], qz, "build %.1fs" % bt, " ".join("%.4f" % r for r in out), flush=True)

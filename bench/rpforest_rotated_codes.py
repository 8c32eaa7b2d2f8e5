#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
# Generality check of the 8-bit leaf codes: Fashion-MNIST under a random orthogonal rotation
# (l2 distances, hence the ground truth, unchanged; every coordinate continuous, so the 8-bit
# codes are no longer exact as on integer pixels). recall@10 and CPU QPS of one forest under
# several runtime settings (bench/RESULTS.md, rpforest round 3):
#   QVPATH=build/python DATA=.data/fashion-mnist-784-euclidean bench/rpforest_rotated_codes.py 25 100,1000,10000 \
#     '[{"name":"floats","params":{"rerank":0}},{"name":"codes","params":{"rerank":4}}]'
import sys, os, time, json
from rpf_common import load_data  # first: it puts QVPATH on sys.path
import numpy as np, quiver
X, Q, gt = load_data(1000)
nq = len(Q)
R, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((784, 784)))
X = (X @ R).astype(np.float32); Q = (Q @ R).astype(np.float32)
trees = int(sys.argv[1]); sks = [int(x) for x in sys.argv[2].split(",")]
cfgs = json.loads(sys.argv[3])
db = quiver.Database(n_threads=1)
col = db.create_collection("r", dim=784, metric="l2", index="rpforest", n_trees=trees, seed=1)
col.add_vectors(X)
def rec(res): return float(np.mean([len(set(r) & set(g.tolist())) / 10 for r, g in zip(res, gt)]))
for sk in sks:
    out = {"sk": sk}
    for c in cfgs:
        col.set_params(search_k=sk, **c.get("params", {}))
        c0 = time.process_time()
        res = [[int(i) for i in col.search(q, 10)[0]] for q in Q]
        out[c["name"]] = [round(rec(res), 4), round(nq / (time.process_time() - c0))]
    print(json.dumps(out), flush=True)

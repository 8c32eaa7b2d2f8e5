#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
# Generality check of the 8-bit leaf codes: Fashion-MNIST under a random orthogonal rotation
# (l2 distances, hence the ground truth, unchanged; every coordinate continuous, so the 8-bit
# codes are no longer exact as on integer pixels). recall@10 and CPU QPS of one forest under
# several runtime settings (bench/RESULTS.md, rpforest round 3):
#   QVPATH=build/python DATA=.data/fashion-mnist-784-euclidean bench/rpforest_rotated_codes.py 25 100,1000,10000 \
#     '[{"name":"floats","params":{"rerank":0}},{"name":"codes","params":{"rerank":4}}]'
import sys, os, time, json
os.environ.setdefault("QUIVER_THREADS", "1")
sys.path.insert(0, os.environ.get("QVPATH", "build/python"))
import numpy as np, quiver
def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32); d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()
D = os.environ.get("DATA", ".data/fashion-mnist-784-euclidean")
X = read_vecs(D + "/base.fvecs", np.float32); nq = 1000
Q = read_vecs(D + "/query.fvecs", np.float32)[:nq]; gt = read_vecs(D + "/gt.ivecs", np.int32)[:nq, :10]
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

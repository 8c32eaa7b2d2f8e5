#!/usr/bin/python3
"""bench/lean_query.py (bench/RESULTS.md, "Lossless codes"): BUILD_PY_DIR DATA_DIR MODE [ef nq]
MODE build: make a persistent collection of Fashion-MNIST's base under DATA_DIR/db (M 16, default lean).
MODE query: reopen it, set ef_search, run nq queries (single thread): thread CPU us/query, recall@10."""
import sys, os, time, numpy as np
sys.path.insert(0, sys.argv[1])
import quiver
ds = "/tmp/quant-data/fashion-mnist-784-euclidean"
def fvecs(p):
    a = np.fromfile(p, dtype=np.int32); d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].view(np.float32)
mode = sys.argv[3]
dbdir = os.path.join(sys.argv[2], "db")
params = dict(M=16, persistent=True)
if len(sys.argv) > 6: params.update(eval(sys.argv[6]))
params.pop("persistent")
if mode == "build":
    X = np.ascontiguousarray(fvecs(ds + "/base.fvecs"))
    db = quiver.Database(dbdir)
    col = db.create_collection("bench", dim=784, metric="l2", index="hnsw", **params)
    col.add_vectors(X)
    db.close() if hasattr(db, "close") else None
    sys.exit(0)
ef, nq = int(sys.argv[4]), int(sys.argv[5])
Q = np.ascontiguousarray(fvecs(ds + "/query.fvecs")[:nq])
gt = np.fromfile(ds + "/gt.ivecs", dtype=np.int32); gt = gt.reshape(-1, gt[0] + 1)[:, 1:]
db = quiver.Database(dbdir)
col = db.get_collection("bench") if hasattr(db, "get_collection") else db.collection("bench")
col.set_params(ef_search=ef)
for q in Q[:20]: col.search(q, 10)  # warm
hit = 0
t0 = time.thread_time()
res = [col.search(q, 10)[0] for q in Q]
t1 = time.thread_time()
for i, ids in enumerate(res):
    hit += len(set(int(x) for x in ids) & set(gt[i, :10].tolist()))
print(f"ef {ef} nq {nq} recall {hit / (10 * nq):.4f} cpu_us_per_query {(t1 - t0) / nq * 1e6:.1f}")

#!/usr/bin/python3
"""Filtered HNSW search on Fashion-MNIST through quiver's Python module.

Builds an HNSW collection (M=16, ef_construction=200) of the 60000 base vectors with metadata
{"label": class, "bucket": row % 100}, then, single-threaded, one query at a time:
  - unfiltered: recall@10 against gt.ivecs and QPS, per ef;
  - where {"label": query's label} (10% selective): recall@10 against gt_samelabel.ivecs, QPS;
  - where {"bucket": q % 100} (1% selective): how many queries return 10 hits that all match.
Usage: bench/ann/filtered_bench.py [--quiver-path build/python] [--data DIR] [--queries N]
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_vecs(path, dtype, rows=None):
    dim = int(np.fromfile(path, dtype=np.int32, count=1)[0])
    raw = np.fromfile(path, dtype=np.int32).reshape(-1, dim + 1)
    if rows:
        raw = raw[:rows]
    return np.ascontiguousarray(raw[:, 1:].view(dtype))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quiver-path", default=os.path.join(ROOT, "build", "python"))
    ap.add_argument("--data", default=os.path.join(ROOT, ".data", "fashion-mnist-784-euclidean"))
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--efs", default="10,20,40,80")
    args = ap.parse_args()
    sys.path.insert(0, args.quiver_path)
    import quiver

    X = read_vecs(os.path.join(args.data, "base.fvecs"), np.float32)
    Q = read_vecs(os.path.join(args.data, "query.fvecs"), np.float32, args.queries)
    gt = read_vecs(os.path.join(args.data, "gt.ivecs"), np.int32, args.queries)[:, :10]
    gts = read_vecs(os.path.join(args.data, "gt_samelabel.ivecs"), np.int32, args.queries)[:, :10]
    bl = read_vecs(os.path.join(args.data, "base_labels.ivecs"), np.int32).ravel()
    ql = read_vecs(os.path.join(args.data, "query_labels.ivecs"), np.int32, args.queries).ravel()

    db = quiver.Database()
    col = db.create_collection("fm", dim=X.shape[1], metric="l2", index="hnsw", M=16, ef_construction=200)
    t = time.perf_counter()
    col.add(ids=[str(i) for i in range(len(X))], embeddings=X,
            metadatas=[{"label": int(bl[i]), "bucket": i % 100} for i in range(len(X))])
    print("build with metadata: %.1f s (%s)" % (time.perf_counter() - t, quiver.__version__))

    def run(where_of, truth):
        hits, n_ok = 0, 0
        t = time.perf_counter()
        res = []
        for i in range(len(Q)):
            r = col.query(Q[i:i + 1], n_results=10, where=where_of(i), include=[])
            res.append(r["ids"][0])
        dt = time.perf_counter() - t
        for i, ids in enumerate(res):
            ids = [int(x) for x in ids]
            if truth is not None:
                hits += len(set(ids) & set(truth[i].tolist()))
            n_ok += len(ids) == 10
        return (hits / (10.0 * len(Q)) if truth is not None else None), len(Q) / dt, n_ok, res

    print("%-28s %5s %8s %9s" % ("filter", "ef", "recall", "QPS"))
    for ef in [int(e) for e in args.efs.split(",")]:
        col.set_params(ef_search=ef)
        r0, q0, _, _ = run(lambda i: None, gt)
        print("%-28s %5d %8.4f %9.0f" % ("none", ef, r0, q0))
        r1, q1, _, res = run(lambda i: {"label": int(ql[i])}, gts)
        bad = sum(bl[int(x)] != ql[i] for i, ids in enumerate(res) for x in ids)
        print("%-28s %5d %8.4f %9.0f  (%.2fx unfiltered; %d hits with a wrong label)"
              % ("label == query label (10%)", ef, r1, q1, q1 / q0, bad))
    _, q2, ok, res = run(lambda i: {"bucket": i % 100}, None)
    bad = sum(int(x) % 100 != i % 100 for i, ids in enumerate(res) for x in ids)
    print("%-28s %5s %8s %9.0f  (%d/%d queries with 10 hits; %d non-matching hits)"
          % ("bucket == q %% 100 (1%%)", "-", "-", q2, ok, len(Q), bad))


if __name__ == "__main__":
    main()

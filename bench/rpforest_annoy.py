#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""quiver's rpforest (live and as a snapshot file) and HNSW snapshot against Annoy, in one run.

annbench's quiver adapter cannot select an index kind other than hnsw through --quiver-params
(it builds dict(index="hnsw", **params), a TypeError when params name "index"), so this script
follows annbench's loop itself: single-threaded build (OMP/QUIVER threads 1) and queries one at
a time, 200 warm-up queries, then time.perf_counter() around the whole query loop; recall@10
against gt.ivecs. Annoy is annbench's own build (ANNOY_SO, built from source with -march=native
by annbench) driven as annbench drives it: add_item(i, x.tolist()), build(n_trees, n_jobs=1),
save + load (mmap), get_nns_by_vector(q.tolist(), k, search_k). Points alternate between the
systems at each search_k so that the noise of a shared machine hits both alike.

  bench/rpforest_annoy.py DATA_DIR [--queries 1000] [--trees 100] [--hnsw]
"""
import argparse
import glob
import importlib.util
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("QUIVER_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def recall(found, gt, k):
    return float(np.mean([len(set(f[:k]) & set(g[:k])) / k for f, g in zip(found, gt)]))


def timed(fn, Q, k, warm=200):
    for q in Q[:warm]:
        fn(q, k)
    out = []
    t = time.perf_counter()
    for q in Q:
        out.append(fn(q, k))
    return out, len(Q) / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--search-k", default="100,1000,10000,40000")
    ap.add_argument("--hnsw", action="store_true")
    ap.add_argument("--quiver-path", default=os.path.join(os.path.dirname(__file__), "..", "build", "python"))
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    sys.path.insert(0, a.quiver_path)
    import quiver
    so = os.environ.get("ANNOY_SO") or sorted(glob.glob("/tmp/annbench-cache/annoy-*/annoylib*.so"))[-1]
    spec = importlib.util.spec_from_file_location("annoylib", so)
    annoylib = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(annoylib)
    X = read_vecs(os.path.join(a.data, "base.fvecs"), np.float32)
    Q = read_vecs(os.path.join(a.data, "query.fvecs"), np.float32)[: a.queries]
    gt = read_vecs(os.path.join(a.data, "gt.ivecs"), np.int32)[: a.queries]
    k, n, dim = 10, len(X), X.shape[1]
    tmp = tempfile.mkdtemp(prefix="rpf-annoy.")
    rows = []

    # Annoy, as annbench builds it
    t = time.perf_counter()
    ann = annoylib.Annoy(dim, "euclidean")
    for i, x in enumerate(X):
        ann.add_item(i, x.tolist())
    ann.build(a.trees, 1)
    apath = os.path.join(tmp, "annoy.ann")
    ann.save(apath, True)
    annoy_build = time.perf_counter() - t
    ann.unload()
    t = time.perf_counter()
    ann = annoylib.Annoy(dim, "euclidean")
    ann.load(apath)
    annoy_open = time.perf_counter() - t
    annoy_size = os.path.getsize(apath)

    # quiver rpforest, same n_trees
    t = time.perf_counter()
    db = quiver.Database(n_threads=1)
    col = db.create_collection("rpf", dim=dim, metric="l2", index="rpforest", n_trees=a.trees)
    col.add_vectors(X)
    q_build = time.perf_counter() - t
    qpath = os.path.join(tmp, "rpf.qvs")
    t = time.perf_counter()
    col.export(qpath)
    q_export = time.perf_counter() - t
    t = time.perf_counter()
    st = quiver.open_static(qpath)
    q_open = time.perf_counter() - t
    q_size = os.path.getsize(qpath)
    print(json.dumps({"annoy_build_s": annoy_build, "annoy_open_ms": annoy_open * 1e3, "annoy_file_mb": annoy_size / 2**20,
                      "rpforest_build_s": q_build, "rpforest_export_s": q_export, "rpforest_open_ms": q_open * 1e3,
                      "rpforest_file_mb": q_size / 2**20}), flush=True)
    ids_of = lambda res: [[int(i) for i in r[0]] for r in res]  # noqa: E731
    sks = [int(x) for x in a.search_k.split(",")]
    snaps = {}
    for sk in sks:  # a snapshot file answers with the search_k stored in it: one export per point
        col.set_params(search_k=sk)
        snaps[sk] = os.path.join(tmp, "rpf%d.qvs" % sk)
        col.export(snaps[sk])
    for sk in sks:  # the three systems back to back at each point
        res, qps = timed(lambda q, kk: ann.get_nns_by_vector(q.tolist(), kk, sk), Q, k)
        rows.append({"system": "annoy", "n_trees": a.trees, "search_k": sk, "recall": recall(res, gt, k), "qps": qps})
        print(json.dumps(rows[-1]), flush=True)
        col.set_params(search_k=sk)
        res, qps = timed(col.search, Q, k)
        rows.append({"system": "quiver-rpforest", "n_trees": a.trees, "search_k": sk, "recall": recall(ids_of(res), gt, k),
                     "qps": qps})
        print(json.dumps(rows[-1]), flush=True)
        s = quiver.open_static(snaps[sk])
        res, qps = timed(s.search, Q, k)
        rows.append({"system": "quiver-rpforest-snapshot", "n_trees": a.trees, "search_k": sk,
                     "recall": recall(ids_of(res), gt, k), "qps": qps})
        print(json.dumps(rows[-1]), flush=True)
        s.close()
        os.unlink(snaps[sk])
    if a.hnsw:
        t = time.perf_counter()
        h = db.create_collection("h", dim=dim, metric="l2", index="hnsw", M=16, ef_construction=200)
        h.add_vectors(X)
        hb = time.perf_counter() - t
        for ef in (32, 64, 128):
            h.set_params(ef_search=ef)
            p = os.path.join(tmp, "h%d.qvs" % ef)
            h.export(p)
            t = time.perf_counter()
            s = quiver.open_static(p)
            ho = time.perf_counter() - t
            res, qps = timed(s.search, Q, k)
            rows.append({"system": "quiver-hnsw-snapshot", "M": 16, "ef_search": ef, "recall": recall(ids_of(res), gt, k),
                         "qps": qps, "build_s": hb, "open_ms": ho * 1e3, "file_mb": os.path.getsize(p) / 2**20})
            print(json.dumps(rows[-1]), flush=True)
            s.close()
            os.unlink(p)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""quiver's rpforest against a saved Annoy index, one query at a time from Python (as annbench
drives both: Annoy get_nns_by_vector(q.tolist(), k, search_k), quiver col.search(q, k)),
interleaved at each search_k, reporting recall@10 and, per system, the best of REPS loops of
wall-clock QPS and of CPU-time QPS (time.process_time: less sensitive to a loaded machine).

  QVPATH=build/python DATA=.data/fashion-mnist-784-euclidean NQ=1000 REPS=2 \
    bench/rpforest_qps_cpu.py N_TREES SEED SEARCH_K_LIST ANNOY_FILE [JSON_EXTRA_PARAMS]

ANNOY_FILE: an index saved by annbench's Annoy build (annoylib from /tmp/annbench-cache),
e.g. annoylib.Annoy(784, "euclidean"), add_item(i, x.tolist()), build(100, 1), save(FILE).
Output: one JSON line per search_k, "annoy"/"quiver": [recall, wall QPS, CPU QPS].
"""
import sys, os, time, json
from rpf_common import annoylib, load_data  # first: it puts QVPATH on sys.path
import numpy as np, quiver
annoylib = annoylib()
X, Q, gt = load_data(2000)
nq = len(Q)
trees, seed = int(sys.argv[1]), int(sys.argv[2]); sks = [int(x) for x in sys.argv[3].split(",")]
annf = sys.argv[4]; extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
reps = int(os.environ.get("REPS", "3"))
a = annoylib.Annoy(784, "euclidean"); a.load(annf)
db = quiver.Database(n_threads=1)
col = db.create_collection("r", dim=784, metric="l2", index="rpforest", n_trees=trees, seed=seed, **extra)
col.add_vectors(X)
rows = [Q[i] for i in range(nq)]
def rec(res): return float(np.mean([len(set(r) & set(g.tolist())) / 10 for r, g in zip(res, gt)]))
for sk in sks:
    col.set_params(search_k=sk)
    best = {"annoy": [0, 0], "quiver": [0, 0]}; recs = {}
    for r in range(reps):
        for name in ("annoy", "quiver"):
            if name == "annoy":
                fn = lambda q: a.get_nns_by_vector(q.tolist(), 10, sk)
            else:
                fn = lambda q: [int(i) for i in col.search(q, 10)[0]]
            for q in rows[:200]: fn(q)
            t0, c0 = time.perf_counter(), time.process_time()
            res = [fn(q) for q in rows]
            t1, c1 = time.perf_counter(), time.process_time()
            best[name][0] = max(best[name][0], nq / (t1 - t0)); best[name][1] = max(best[name][1], nq / (c1 - c0))
            recs[name] = rec(res)
    print(json.dumps({"sk": sk, "extra": extra, "seed": seed, "annoy": [round(recs["annoy"], 4)] + [round(x) for x in best["annoy"]],
                      "quiver": [round(recs["quiver"], 4)] + [round(x) for x in best["quiver"]]}), flush=True)

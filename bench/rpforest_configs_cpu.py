#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""bench/rpforest_qps_cpu.py's loop (one query at a time from Python, Annoy from a saved file,
recall@10 exact, QPS per CPU second of the process, the best of REPS loops) with several quiver
configurations of ONE forest interleaved with Annoy in each row, so the rows compare settings
on the same trees under the same machine load.

  QVPATH=build/python DATA=.data/fashion-mnist-784-euclidean NQ=1000 REPS=2 \
    bench/rpforest_configs_cpu.py N_TREES SEED SEARCH_K_LIST ANNOY_FILE CONFIGS_JSON

CONFIGS_JSON: a list of {"name": ..., "params": {runtime parameters for set_params}}, e.g.
'[{"name": "annoy-rule", "params": {"rerank": 0, "entry_cap": 1, "min_leaves": 1}},
  {"name": "default", "params": {}}]'. ANNOY_FILE "-" skips Annoy. BUILD='{"codes": "none"}'
adds creation parameters. Output: a line with the build's CPU seconds, then one JSON line per
search_k: {name: [recall, CPU QPS]}.
"""
import sys, os, time, json
from rpf_common import annoylib, load_data  # first: it puts QVPATH on sys.path
import numpy as np, quiver
annoylib = annoylib()
X, Q, gt = load_data(1000)
nq = len(Q)
trees, seed = int(sys.argv[1]), int(sys.argv[2]); sks = [int(x) for x in sys.argv[3].split(",")]
annf = sys.argv[4]; cfgs = json.loads(sys.argv[5]); build = json.loads(os.environ.get("BUILD", "{}"))
reps = int(os.environ.get("REPS", "2"))
a = annoylib.Annoy(X.shape[1], "euclidean"); a.load(annf) if annf != "-" else None
db = quiver.Database(n_threads=1)
t0 = time.process_time()
col = db.create_collection("r", dim=X.shape[1], metric="l2", index="rpforest", n_trees=trees, seed=seed, **build)
col.add_vectors(X)
print(json.dumps({"build_cpu_s": round(time.process_time() - t0, 1)}), flush=True)
rows = [Q[i] for i in range(nq)]
def rec(res): return float(np.mean([len(set(r) & set(g.tolist())) / 10 for r, g in zip(res, gt)]))
for sk in sks:
    names = (["annoy"] if annf != "-" else []) + [c["name"] for c in cfgs]
    best = {n: 0 for n in names}; recs = {}
    for r in range(reps):
        for name in names:
            if name == "annoy":
                fn = lambda q: a.get_nns_by_vector(q.tolist(), 10, sk)
            else:
                c = [x for x in cfgs if x["name"] == name][0]
                col.set_params(search_k=sk, **c.get("params", {}))
                fn = lambda q: [int(i) for i in col.search(q, 10)[0]]
            for q in rows[:200]: fn(q)
            c0 = time.process_time()
            res = [fn(q) for q in rows]
            c1 = time.process_time()
            best[name] = max(best[name], nq / (c1 - c0)); recs[name] = rec(res)
    print(json.dumps({"sk": sk, **{n: [round(recs[n], 4), round(best[n])] for n in names}}), flush=True)

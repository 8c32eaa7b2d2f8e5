#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench/ingest_growth.py -- does ingest slow down as a collection grows? (chroma #1790)

Chroma users reported each add() batch taking longer and longer as the collection grew, far
beyond the log(n) an HNSW insert costs. This adds N records in batches of B to a persistent
collection (SQLite commit + index insert, as an application would), one build thread, and
prints the CPU time (process_time: immune to other processes on a shared machine) of every
tenth batch, then compares the mean of the first ten batches with the last ten. An HNSW
insert's search grows with the graph by itself, so the same is measured for hnswlib (M 16,
ef_construction 200, one thread, when python3-hnswlib is installed) on the same rows: a
ratio like hnswlib's is the algorithm's, a much larger one would be #1790. A flat index
should stay near 1. Timed figures are noisy, which is why this is a benchmark
(bench/RESULTS.md) and not a test.

Usage: QUIVER_BUILD=build/python /usr/bin/python3 bench/ingest_growth.py [N [B [DIM]]]
"""
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.environ.get("QUIVER_BUILD", os.path.join(os.path.dirname(__file__), "..", "build", "python")))
import quiver  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
B = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
DIM = int(sys.argv[3]) if len(sys.argv) > 3 else 64
X = np.random.default_rng(1).standard_normal((N, DIM)).astype(np.float32)
ids = [str(i) for i in range(N)]
metas = [{"i": i, "tag": f"t{i % 7}"} for i in range(N)]


def report(name, times):
    nb = len(times)
    print(f"\n{name}: batch CPU ms at " + ", ".join(f"{(i + 1) * B}:{times[i] * 1e3:.0f}"
                                                   for i in range(0, nb, max(1, nb // 10))))
    first, last = np.mean(times[:10]), np.mean(times[-10:])
    print(f"{name}: first 10 batches {first * 1e3:.1f} ms, last 10 {last * 1e3:.1f} ms, "
          f"ratio {last / first:.2f}; total {sum(times):.1f} CPU s, {N / sum(times):.0f} records per CPU s")


print(f"{N} records of dim {DIM} in batches of {B}; quiver persistent, with metadata")
for index in ("hnsw", "flat"):
    with tempfile.TemporaryDirectory(prefix="qv-ingest-") as d:
        with quiver.Database(d, n_threads=1) as db:
            c = db.create_collection("c", DIM, index=index)
            times = []
            for lo in range(0, N, B):
                t = time.process_time()
                c.add(ids[lo:lo + B], X[lo:lo + B], metadatas=metas[lo:lo + B])
                times.append(time.process_time() - t)
            assert c.count() == N
    report(f"quiver {index}", times)

try:
    import hnswlib
except ImportError:
    print("\n(hnswlib not installed: scripts/install-deps.sh --bench)")
else:
    ix = hnswlib.Index(space="l2", dim=DIM)
    ix.init_index(max_elements=N, M=16, ef_construction=200)
    times = []
    for lo in range(0, N, B):
        t = time.process_time()
        ix.add_items(X[lo:lo + B], np.arange(lo, min(N, lo + B)), num_threads=1)
        times.append(time.process_time() - t)
    report("hnswlib", times)

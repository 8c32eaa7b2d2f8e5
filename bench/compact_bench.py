#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench/compact_bench.py -- queries after heavy deletes against a fresh build of what is left.

20000 x 64 standard normal vectors in an HNSW collection (defaults, in memory); deletes 50%,
then 90%, then 98% of them; after each step times 300 single-vector k=10 searches on the
collection and on a fresh build of the remaining vectors, and measures recall@10 against
exact search. With compaction (src/compact.c) the two should match; before it, the decayed
graph was 2.2x / 10x / 49x slower (bench/RESULTS.md).
Usage: QUIVER_BUILD=build/python /usr/bin/python3 bench/compact_bench.py
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.environ.get("QUIVER_BUILD", os.path.join(os.path.dirname(__file__), "..", "build", "python")))
import quiver  # noqa: E402

rng = np.random.default_rng(1)
n, d = 20000, 64
X = rng.standard_normal((n, d)).astype(np.float32)
Q = rng.standard_normal((300, d)).astype(np.float32)


def measure(col):
    t = time.perf_counter()
    for q in Q:
        col.search(q, 10)
    us = (time.perf_counter() - t) / len(Q) * 1e6
    exact = [set(col.query(q, n_results=10, exact=True, include=[])["ids"][0]) for q in Q]
    approx = [set(col.search(q, 10)[0]) for q in Q]
    return us, float(np.mean([len(a & e) / 10 for a, e in zip(approx, exact)]))


db = quiver.Database()
col = db.create_collection("c", d, index="hnsw")
col.add([str(i) for i in range(n)], X)
for frac in (0.5, 0.9, 0.98):
    keep = int(n * (1 - frac))
    col.delete(ids=[str(i) for i in range(keep, n)])  # ids gone already are skipped
    fresh = db.create_collection("fresh%d" % keep, d, index="hnsw")
    fresh.add([str(i) for i in range(keep)], X[:keep])
    (u1, r1), (u2, r2) = measure(col), measure(fresh)
    print("%2.0f%% deleted: %5d live, %5d tombstones: %6.1f us/query recall %.3f | fresh build %6.1f us recall %.3f"
          % (frac * 100, col.count(), col.stats()["n_tombstones"], u1, r1, u2, r2))

#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
bench/where_document_bench.py -- where_document {"$contains": s} on 1M short documents:
answered from the trigram FTS5 index of a persistent database against the scan (strstr over
every document in memory: what an in-memory database, or a needle under 3 characters, does).
The persistent side builds its trigram index on the first such filter (timed separately).
Usage: QUIVER_BUILD=build/python /usr/bin/python3 bench/where_document_bench.py [N]
"""
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.environ.get("QUIVER_BUILD", os.path.join(os.path.dirname(__file__), "..", "build", "python")))
import quiver  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = np.random.default_rng(0)
vocab = [f"w{i:05d}" for i in range(20000)]
W = rng.integers(0, len(vocab), (N, 6))
docs = [" ".join(vocab[j] for j in row) for row in W.tolist()]
X = rng.standard_normal((N, 2)).astype(np.float32)
ids = [str(i) for i in range(N)]
tmp = tempfile.mkdtemp(prefix="qv-wd-")
res = {}
for kind in ("index", "scan"):
    db = quiver.Database(os.path.join(tmp, "d"), sync="normal") if kind == "index" else quiver.Database()
    c = db.create_collection("w", 2)
    t = time.perf_counter()
    for i in range(0, N, 5000):
        c.add(ids[i:i + 5000], X[i:i + 5000], documents=docs[i:i + 5000])
    ing = time.perf_counter() - t
    t = time.perf_counter()
    c.get(where_document={"$contains": "zzz-first"}, include=[])  # builds the trigram index (persistent)
    first = time.perf_counter() - t
    times, counts = [], []
    for needle in ("w01234", "w1999", "w0000", "w12345 w"):
        t = time.perf_counter()
        r = c.get(where_document={"$contains": needle}, include=[])
        times.append(time.perf_counter() - t)
        counts.append(len(r["ids"]))
    t = time.perf_counter()
    q = c.query([[0.0, 0.0]], n_results=10, where_document={"$contains": "w01234"}, include=["distances"])
    tq = time.perf_counter() - t
    res[kind] = (counts, q["ids"])
    print(f"{kind:5s}: ingest {N / ing:,.0f} records/s; first $contains {first:.1f} s; get $contains: "
          + ", ".join(f"{n} hits {s * 1e3:.1f} ms" for n, s in zip(counts, times)) + f"; query k=10 {tq * 1e3:.1f} ms")
    db.close()
assert res["index"] == res["scan"]
shutil.rmtree(tmp)

#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
inproc_query.py -- the in-process baseline through the Python module: k=10 queries on one
collection from 2 Python threads (the module releases the GIL inside each call), with the
Chroma-shaped col.query() and with the lean col.search().

  QUIVER_BUILD=build/python /usr/bin/python3 bench/http/inproc_query.py DATA COLLECTION QUERIES_F32 DIM [SECONDS]

DATA/COLLECTION/QUERIES_F32 as for inproc_query.c (QUIVER_BENCH_KEEP=1 bench/http_bench.py
leaves them in its scratch directory). Prints queries/s for each.
"""
import os
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.environ.get("QUIVER_BUILD", "build/python"))
import quiver  # noqa: E402


def main():
    data, name, qfile, dim = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    secs = float(sys.argv[5]) if len(sys.argv) > 5 else 4.0
    db = quiver.Database(data, read_only=True)
    col = db.get_collection(name)
    queries = np.fromfile(qfile, dtype=np.float32).reshape(-1, dim)

    def run(kind, out, start):
        n, i, end = 0, start, time.time() + secs
        while time.time() < end:
            q = queries[i % len(queries)]
            i += 1
            if kind == "query":
                col.query(query_embeddings=[q], n_results=10)
            else:
                col.search(q, 10)
            n += 1
        out.append(n)

    for kind in ("query", "search"):
        out = []
        threads = [threading.Thread(target=run, args=(kind, out, t)) for t in range(2)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("%s, 2 threads: %.0f queries/s" % (kind, sum(out) / (time.time() - t0)))


if __name__ == "__main__":
    main()

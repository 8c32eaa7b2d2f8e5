#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Snapshot files at scale: export an N x D collection (flat, rpforest, hnsw) once, then, in
fresh processes, time quiver.open_static() and the first query (page cache warm: the file was
just written, and is read once more before each run), and let two processes query the same
file at once, reading each one's Rss and Pss of the file's mapping from /proc/self/smaps
(shared pages: Pss is about half of Rss). Besides wall-clock times each figure has the
thread's CPU time and its minor page faults: on a shared, loaded machine the wall clock mostly
measures waiting for a core.

  bench/static_open.py [--n 1000000] [--dim 128] [--trees 10] [--kinds flat,rpforest,hnsw] [--dir /tmp]
  bench/static_open.py --files A.qvs B.qvs [--quiver-path DIR]   # existing files (another build's)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import sys, time, json, os
sys.path.insert(0, sys.argv[1])
import numpy as np
import resource
t0 = time.perf_counter()
import quiver
q = np.random.default_rng(int(sys.argv[3])).standard_normal(int(sys.argv[4])).astype(np.float32)
def flt():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t1 = time.perf_counter(); c1 = time.thread_time(); f1 = flt()
s = quiver.open_static(sys.argv[2])
t2 = time.perf_counter(); c2 = time.thread_time(); f2 = flt()
s.search(q, 10)
t3 = time.perf_counter(); c3 = time.thread_time(); f3 = flt()
s.search(q * 0.5, 10)
t4 = time.perf_counter(); c4 = time.thread_time()
for i in range(int(sys.argv[5])):
    s.search(q + i, 10)
rss = pss = 0
path = os.path.realpath(sys.argv[2])
with open("/proc/self/smaps") as f:
    cur = False
    for line in f:
        if "-" in line.split(" ")[0] and len(line.split()) >= 5:
            cur = line.rstrip().endswith(path)
        elif cur and line.startswith("Rss:"):
            rss += int(line.split()[1])
        elif cur and line.startswith("Pss:"):
            pss += int(line.split()[1])
if len(sys.argv) > 6:
    open(sys.argv[6], "w").write("ready")
    while not os.path.exists(sys.argv[6] + ".go"):
        time.sleep(0.01)
    with open("/proc/self/smaps") as f:
        cur = False
        rss = pss = 0
        for line in f:
            if "-" in line.split(" ")[0] and len(line.split()) >= 5:
                cur = line.rstrip().endswith(path)
            elif cur and line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif cur and line.startswith("Pss:"):
                pss += int(line.split()[1])
print(json.dumps({"open_ms": (t2 - t1) * 1e3, "open_cpu_ms": (c2 - c1) * 1e3, "open_faults": f2 - f1,
                  "first_query_ms": (t3 - t2) * 1e3, "first_query_cpu_ms": (c3 - c2) * 1e3, "first_query_faults": f3 - f2,
                  "second_query_cpu_ms": (c4 - c3) * 1e3, "rss_mb": rss / 1024, "pss_mb": pss / 1024}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--trees", type=int, default=10)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--kinds", default="flat,rpforest")
    ap.add_argument("--efc", type=int, default=200, help="hnsw ef_construction")
    ap.add_argument("--nq", type=int, default=None, help="queries per process in the two-process run")
    ap.add_argument("--files", nargs="*", help="measure these snapshot files instead of building")
    ap.add_argument("--quiver-path", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "python"))
    a = ap.parse_args()
    sys.path.insert(0, a.quiver_path)
    if a.files:
        for path in a.files:
            measure(a, path, "file", None, None, keep=True)
        return
    import numpy as np
    import quiver
    X = np.random.default_rng(0).standard_normal((a.n, a.dim)).astype(np.float32)
    for kind in a.kinds.split(","):
        db = quiver.Database()
        kw = {"n_trees": a.trees} if kind == "rpforest" else {"ef_construction": a.efc} if kind == "hnsw" else {}
        t = time.perf_counter()
        col = db.create_collection(kind, dim=a.dim, index=kind, **kw)
        col.add_vectors(X)
        build = time.perf_counter() - t
        path = os.path.join(a.dir, "static_open_%s_%d.qvs" % (kind, os.getpid()))
        t = time.perf_counter()
        col.export(path)
        export = time.perf_counter() - t
        db.close()
        measure(a, path, kind, build, export, keep=False)


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def measure(a, path, kind, build, export, keep):
    if True:
        size = os.path.getsize(path)
        with open(path, "rb") as f:  # the dimension, from the snapshot's header
            f.seek(16)
            dim = int.from_bytes(f.read(4), "little")
        runs = []
        for i in range(3):
            warm(path)
            runs.append(json.loads(subprocess.run([sys.executable, "-c", CHILD, a.quiver_path, path, str(i), str(dim), "0"],
                                                  capture_output=True, text=True, check=True).stdout))
        # two processes querying the same file at once (the whole file touched by flat's scans)
        nq = a.nq if a.nq is not None else 20 if kind == "flat" else 200
        warm(path)
        flags = [path + ".p%d" % i for i in range(2)]
        ps = [subprocess.Popen([sys.executable, "-c", CHILD, a.quiver_path, path, str(i), str(a.dim), str(nq), flags[i]],
                               stdout=subprocess.PIPE, text=True) for i in range(2)]
        while not all(os.path.exists(f) for f in flags):
            time.sleep(0.05)
        for f in flags:
            open(f + ".go", "w").close()
        shared = [json.loads(p.communicate()[0]) for p in ps]
        for f in flags:
            os.unlink(f)
            os.unlink(f + ".go")
        if not keep:
            os.unlink(path)
        print(json.dumps({"kind": kind, "file": path, "n": None if keep else a.n, "dim": dim,
                          "build_s": build and round(build, 2), "export_s": export and round(export, 2),
                          "file_mb": round(size / 2**20, 1),
                          "open_ms": [round(r["open_ms"], 3) for r in runs],
                          "open_cpu_ms": [round(r["open_cpu_ms"], 3) for r in runs],
                          "first_query_ms": [round(r["first_query_ms"], 2) for r in runs],
                          "first_query_cpu_ms": [round(r["first_query_cpu_ms"], 2) for r in runs],
                          "first_query_faults": [r["first_query_faults"] for r in runs],
                          "second_query_cpu_ms": [round(r["second_query_cpu_ms"], 2) for r in runs],
                          "two_procs_rss_mb": [round(r["rss_mb"], 1) for r in shared],
                          "two_procs_pss_mb": [round(r["pss_mb"], 1) for r in shared]}), flush=True)


if __name__ == "__main__":
    main()

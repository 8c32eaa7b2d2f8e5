#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Larger than RAM: an IVF collection whose float vectors are --ratio (default 4) times larger
than a cgroup v1 memory limit is built and then served from inside that limit, with only the
codes and lists in memory and the floats on disk (the SQLite store, read through the vector
source when re-ranking). Prints recall@10 and QPS per nprobe, the cgroup's peak usage and its
failcnt, and fails (exit 1) if a phase is killed or recall@10 stays below --min-recall.

  bench/ivf_larger_than_ram.py DATASET [--python-dir build/python] [--ratio 4]
      [--params JSON] [--nprobe 8,16,32] [--queries 1000] [--cgroup NAME]

DATASET is a TEXMEX directory (base.fvecs, query.fvecs, gt.ivecs), e.g. the one made by
`/usr/bin/python3 shared/data/prepare DIR/fashion-mnist-784-euclidean`. With --scale S > 1 the
base is first (outside the cgroup) made S times larger: the original rows, then S - 1 copies
with every value moved by uniform noise in [-noise, noise] (a fixed seed), and the exact
top-10 of the same queries recomputed over it (numpy, in chunks), in a temporary directory.
A whole process with Python, numpy and the collection's bookkeeping needs a few tens of MB of
its own, so a limit of a quarter of Fashion-MNIST's 179 MB of floats leaves little room; the
reported runs use --scale 4 (717 MB of floats, a 179 MB limit). Needs root and the
cgroup v1 memory controller at /sys/fs/cgroup/memory (the cgroup NAME is created there, its
limit set to floats / ratio, and removed at the end). Each phase runs in a fresh process
moved into the cgroup before it imports numpy or quiver, so everything it allocates counts:
  build  streams base.fvecs in chunks (np.memmap) into a persistent database (add_vectors);
  serve  reopens it (the IVF checkpoint: codes and lists) and runs the queries.
The page cache of the files the phases read and write is charged to the cgroup as well; the
kernel reclaims it under the limit (that is what "larger than RAM" exercises).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

CG_ROOT = "/sys/fs/cgroup/memory"

CHILD = r"""
import json, os, sys, time
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
args = json.loads(sys.argv[1])
sys.path.insert(0, args["python_dir"])
import numpy as np
import quiver

def fvecs(path):
    raw = np.memmap(path, dtype=np.int32, mode="r")
    d = int(raw[0])
    return raw.reshape(-1, d + 1), d

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return -1

D = args["dataset"]
db = quiver.Database(args["db"])
out = {"phase": args["phase"]}
if args["phase"] == "build":
    raw, d = fvecs(os.path.join(D, "base.fvecs"))
    t = time.perf_counter()
    col = db.create_collection("big", dim=d, metric="l2", **args["params"])
    for i in range(0, len(raw), args["chunk"]):
        col.add_vectors(np.ascontiguousarray(raw[i:i + args["chunk"], 1:]).view(np.float32))
    db.checkpoint()
    out.update(n=len(raw), dim=d, build_s=round(time.perf_counter() - t, 1))
else:
    col = db.get_collection("big")
    qraw, d = fvecs(os.path.join(D, "query.fvecs"))
    Q = np.ascontiguousarray(qraw[:args["queries"], 1:]).view(np.float32)
    graw, g = fvecs(os.path.join(D, "gt.ivecs"))
    gt = np.asarray(graw[:args["queries"], 1:11])
    out["points"] = []
    for nprobe in args["nprobe"]:
        col.set_params(nprobe=nprobe)
        for q in Q[:50]:
            col.search(q, 10)
        t = time.perf_counter()
        hits = 0
        for i, q in enumerate(Q):
            ids = [int(x) for x in col.search(q, 10)[0]]
            hits += len(set(ids) & set(int(x) for x in gt[i]))
        dt = time.perf_counter() - t
        out["points"].append({"nprobe": nprobe, "recall": round(hits / (10.0 * len(Q)), 4),
                              "qps": round(len(Q) / dt, 1)})
    out["stats"] = {k: v for k, v in col.stats().items() if k.startswith("mem")}
out["rss_mb"] = status("VmRSS")
out["hwm_mb"] = status("VmHWM")
print(json.dumps(out), flush=True)
"""


def read_fvecs(path, dtype=None):
    import numpy as np
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    m = raw.reshape(-1, d + 1)[:, 1:]
    return np.ascontiguousarray(m).view(dtype) if dtype is not None else np.ascontiguousarray(m)


def scaled_dataset(src, dst, scale, noise, nq, seed=7):
    """src's base made `scale` times larger (see the top of the file), with exact l2 top-10
    of its first nq queries."""
    import numpy as np
    X = read_fvecs(os.path.join(src, "base.fvecs"), np.float32)
    Q = read_fvecs(os.path.join(src, "query.fvecs"), np.float32)[:nq]
    n, d = X.shape
    rng = np.random.default_rng(seed)
    head = np.full((n, 1), d, np.int32)
    with open(os.path.join(dst, "base.fvecs"), "wb") as f:
        for c in range(scale):
            Y = X if c == 0 else (X + rng.uniform(-noise, noise, X.shape).astype(np.float32))
            np.hstack([head, Y.view(np.int32)]).tofile(f)
    with open(os.path.join(dst, "query.fvecs"), "wb") as f:
        np.hstack([np.full((len(Q), 1), d, np.int32), Q.view(np.int32)]).tofile(f)
    base = np.memmap(os.path.join(dst, "base.fvecs"), dtype=np.int32, mode="r").reshape(-1, d + 1)
    qn = (Q * Q).sum(1)[:, None]
    best_d = np.full((len(Q), 10), np.inf, np.float32)
    best_i = np.zeros((len(Q), 10), np.int64)
    for i0 in range(0, len(base), 20000):
        B = np.ascontiguousarray(base[i0:i0 + 20000, 1:]).view(np.float32)
        D = qn - 2.0 * (Q @ B.T) + (B * B).sum(1)[None, :]
        Dd = np.concatenate([best_d, D], 1)
        Ii = np.concatenate([best_i, np.arange(i0, i0 + len(B))[None, :].repeat(len(Q), 0)], 1)
        o = np.argsort(Dd, 1, kind="stable")[:, :10]
        best_d = np.take_along_axis(Dd, o, 1)
        best_i = np.take_along_axis(Ii, o, 1)
    np.hstack([np.full((len(Q), 1), 10, np.int32), best_i.astype(np.int32)]).tofile(os.path.join(dst, "gt.ivecs"))


def cg_write(cg, name, value):
    with open(os.path.join(cg, name), "w") as f:
        f.write(str(value))


def cg_read(cg, name):
    with open(os.path.join(cg, name)) as f:
        return f.read().strip()


def run_phase(cg, spec):
    """One phase in a fresh interpreter that joins the cgroup first (preexec)."""
    def join():
        cg_write(cg, "cgroup.procs", os.getpid())
    cg_write(cg, "memory.max_usage_in_bytes", 0)
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], preexec_fn=join,
                       capture_output=True, text=True)
    peak = int(cg_read(cg, "memory.max_usage_in_bytes"))
    res = {"rc": p.returncode, "peak_mb": round(peak / 2**20, 1), "failcnt": int(cg_read(cg, "memory.failcnt"))}
    if p.returncode == 0 and p.stdout.strip():
        res.update(json.loads(p.stdout.strip().splitlines()[-1]))
    else:
        res["stderr"] = p.stderr[-2000:]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--python-dir", default="build/python")
    ap.add_argument("--ratio", type=float, default=4.0, help="float bytes / memory limit (default 4)")
    ap.add_argument("--params", default='{"index": "ivf", "nlist": 256, "quantizer": "pq", "pq_bits": 4, '
                    '"pq_m": 196, "rerank": 10, "train_size": 4096}')
    ap.add_argument("--nprobe", default="8,16,32")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--min-recall", type=float, default=0.90)
    ap.add_argument("--cgroup", default="quiver-ram-check")
    ap.add_argument("--scale", type=int, default=1, help="make the base this many times larger first")
    ap.add_argument("--noise", type=float, default=8.0, help="--scale: the copies' noise amplitude")
    ap.add_argument("--dir", default=None, help="where the database goes (default: a temporary directory)")
    a = ap.parse_args()
    if not os.path.isdir(CG_ROOT):
        sys.exit("no cgroup v1 memory controller at " + CG_ROOT)
    tmp = tempfile.mkdtemp(prefix="quiver-ram.", dir=a.dir)
    if a.scale > 1:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        scaled_dataset(a.dataset, data, a.scale, a.noise, a.queries)
        a.dataset = data
    base = os.path.join(a.dataset, "base.fvecs")
    with open(base, "rb") as f:
        dim = int.from_bytes(f.read(4), "little")
    n = os.path.getsize(base) // (4 + 4 * dim)
    float_bytes = n * dim * 4
    limit = int(float_bytes / a.ratio)
    cg = os.path.join(CG_ROOT, a.cgroup)
    os.makedirs(cg, exist_ok=True)
    ok = False
    try:
        cg_write(cg, "memory.limit_in_bytes", limit)
        if os.path.exists(os.path.join(cg, "memory.memsw.limit_in_bytes")):
            try:
                cg_write(cg, "memory.memsw.limit_in_bytes", limit)  # no swapping around the limit
            except OSError:
                pass
        spec = {"dataset": os.path.abspath(a.dataset), "python_dir": os.path.abspath(a.python_dir),
                "db": os.path.join(tmp, "db"), "params": json.loads(a.params), "chunk": a.chunk,
                "queries": a.queries, "nprobe": [int(x) for x in a.nprobe.split(",")]}
        head = {"dataset": a.dataset, "scale": a.scale, "n": n, "dim": dim, "float_mb": round(float_bytes / 2**20, 1),
                "limit_mb": round(limit / 2**20, 1), "ratio": a.ratio, "params": spec["params"]}
        print(json.dumps(head), flush=True)
        build = run_phase(cg, dict(spec, phase="build"))
        print(json.dumps(build), flush=True)
        if build["rc"] != 0:
            sys.exit("build phase failed (rc %d; killed by the limit if -9)" % build["rc"])
        serve = run_phase(cg, dict(spec, phase="serve"))
        print(json.dumps(serve), flush=True)
        if serve["rc"] != 0:
            sys.exit("serve phase failed (rc %d; killed by the limit if -9)" % serve["rc"])
        best = max(p["recall"] for p in serve["points"])
        ok = best >= a.min_recall
        print("larger than RAM: floats %.1f MB, limit %.1f MB; best recall@10 %.4f (%s %.2f)" % (
            float_bytes / 2**20, limit / 2**20, best, ">=" if ok else "<", a.min_recall))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            os.rmdir(cg)
        except OSError:
            pass
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

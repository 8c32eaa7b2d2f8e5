#!/usr/bin/python3
"""Per-record bookkeeping memory: ids and metadata (issue 10 item 3).

Usage: meta_mem.py [--n 1000000] [--dim 8] [--path DIR] [--reopen] [--open]
Adds n records (ids "0".."n-1", metadata {"cat": "c<i%10>", "n": i, "score": i/2}) to a flat
collection of an in-memory database (or a persistent one at --path) in batches of 10000 and
prints the stats' mem_ids / mem_metadata / mem_documents / bytes_per_record, glibc's
allocated bytes (mallinfo2 uordblks + hblkhd) and VmRSS, each as the increase over the
empty database. --reopen: close, open again (the load path), measure again (RSS is then
skewed by the heap the first open left behind: use --open in a new process for it).
--open: only open the collection already at --path (a fresh process: the load path alone).
Uses the Python module of $QUIVER_BUILD (default build/python).
"""
import argparse, ctypes, gc, os, shutil, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.abspath(os.environ.get("QUIVER_BUILD", os.path.join(ROOT, "build", "python"))))
import numpy as np  # noqa: E402
import quiver  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=1_000_000)
ap.add_argument("--dim", type=int, default=8)
ap.add_argument("--path")
ap.add_argument("--reopen", action="store_true")
ap.add_argument("--open", action="store_true")
a = ap.parse_args()


class MI2(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MI2


def heap():
    gc.collect()
    m = libc.mallinfo2()
    return m.uordblks + m.hblkhd


def rss():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) * 1024
    return 0


def report(what, col, h0, r0):
    st = col.stats()
    n = col.count()
    print(f"{what}: n {n} bytes_per_record {st['bytes_per_record']} mem_ids/rec {st['mem_ids'] / n:.1f} "
          f"mem_metadata/rec {st['mem_metadata'] / n:.1f} mem_documents/rec {st['mem_documents'] / n:.1f} "
          f"mem_vectors/rec {st['mem_vectors'] / n:.1f} | malloc'd/rec {(heap() - h0) / n:.1f} "
          f"RSS/rec {(rss() - r0) / n:.1f}", flush=True)


if a.open:
    h0, r0 = heap(), rss()
    db = quiver.Database(a.path)
    col = db.get_collection("m")
    report("open", col, h0, r0)
    db.close()
    sys.exit(0)
if a.path:
    shutil.rmtree(a.path, ignore_errors=True)
rng = np.random.default_rng(1)
h0, r0 = heap(), rss()
db = quiver.Database(a.path) if a.path else quiver.Database()
col = db.create_collection("m", dim=a.dim)
B = 10000
for off in range(0, a.n, B):
    m = min(B, a.n - off)
    ids = [str(i) for i in range(off, off + m)]
    metas = [{"cat": f"c{i % 10}", "n": i, "score": i / 2} for i in range(off, off + m)]
    col.add(ids=ids, embeddings=rng.standard_normal((m, a.dim), dtype=np.float32), metadatas=metas)
    del ids, metas
report("after add", col, h0, r0)
got = col.get(where={"cat": "c3"}, limit=3)
print("filter check:", got["ids"], got["metadatas"][:1])
if a.path and a.reopen:
    db.close()
    del col, db
    h0, r0 = heap(), rss()
    db = quiver.Database(a.path)
    col = db.get_collection("m")
    report("after reopen", col, h0, r0)
db.close()

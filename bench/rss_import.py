#!/usr/bin/python3
"""Peak vs final RSS of a CLI bulk import (issue 10: peak <= 1.3x final).

Usage: rss_import.py QUIVER_BINARY DATA_DIR VECTORS.npy [--index flat] [--batch 10000] [--append]
Makes VECTORS.npy (1M x 128 standard-normal float32, seed 1) when it does not exist.
Samples VmRSS of the import process every 10 ms; "final" is the sample taken when the
command prints its "imported" summary (before close), "peak" the largest sample. Also
prints VmHWM from /proc just before exit when it can be read.
"""
import argparse, os, shutil, subprocess, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("binary"); ap.add_argument("data"); ap.add_argument("npy")
ap.add_argument("--index", default="flat"); ap.add_argument("--batch", default="10000")
ap.add_argument("--append", action="store_true",
                help="import into the existing collection (ids from its count): the reopen path")
ap.add_argument("--n", type=int, default=1_000_000); ap.add_argument("--dim", type=int, default=128)
a = ap.parse_args()
if not os.path.exists(a.npy):
    import numpy as np
    np.save(a.npy, np.random.default_rng(1).standard_normal((a.n, a.dim), dtype=np.float32))
if a.append:
    args = ["stdbuf", "-oL", a.binary, "--data", a.data, "import", "c", a.npy, "--batch", a.batch]
else:
    shutil.rmtree(a.data, ignore_errors=True)
    args = ["stdbuf", "-oL", a.binary, "--data", a.data, "import", "c", a.npy, "--create",
            "--index", a.index, "--batch", a.batch]
t0 = time.time()
p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
samples, at_end = [], []
def rd():
    for line in p.stdout:
        if line.startswith("imported"):
            at_end.append(samples[-1] if samples else 0)
threading.Thread(target=rd, daemon=True).start()
hwm = 0
while p.poll() is None:
    try:
        for l in open(f"/proc/{p.pid}/status"):
            if l.startswith("VmRSS"): samples.append(int(l.split()[1]))
            if l.startswith("VmHWM"): hwm = max(hwm, int(l.split()[1]))
    except Exception:
        pass
    time.sleep(0.01)
time.sleep(0.2)
peak = max(samples); final = at_end[0] if at_end else 0
print(f"{a.index} peak MB {peak / 1024:.0f} VmHWM MB {hwm / 1024:.0f} final MB {final / 1024:.0f} "
      f"peak/final {peak / max(final, 1):.3f} HWM/final {hwm / max(final, 1):.3f} wall s {time.time() - t0:.1f}")

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Crash test: kill -9 a writer at random moments, many times, on one data directory.

Each iteration starts durability_writer.py on the same directory and SIGKILLs it at a random
moment (mostly while it is adding batches, sometimes during start-up, open or recovery), then
reopens the directory here and checks: every acknowledged batch is present with exactly its
content, no batch is partially present, batches are contiguous, the count agrees, and queries
see the records. Batches new since the previous check are checked in full, a few older ones
are re-checked at random, and the last iteration checks everything.
Iterations: $QV_DURABILITY_ITERS (default 30); seed: $QV_DURABILITY_SEED.
"""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import quiver
from durability_writer import BATCH, COLLECTION, batch

WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "durability_writer.py")
ITERS = int(os.environ.get("QV_DURABILITY_ITERS", "30"))
SEED = int(os.environ.get("QV_DURABILITY_SEED", "20261125"))
MAX_BATCHES_PER_RUN = 100  # a writer that is not killed closes cleanly after this many


class Writer:
    """A writer subprocess whose stdout lines are collected by a thread."""

    def __init__(self, path, sync, errfile):
        self.lines = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen([sys.executable, WRITER, path, sync, str(MAX_BATCHES_PER_RUN)],
                                     stdout=subprocess.PIPE, stderr=errfile, text=True,
                                     env=dict(os.environ))
        self.thread = threading.Thread(target=self._read)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if line.startswith(("READY", "PARTIAL")):
                self.ready.set()
        self.ready.set()

    def kill_after(self, delay):
        time.sleep(delay)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait()
        self.thread.join()
        return rc

    def acked(self):
        return [int(x.split()[1]) for x in self.lines if x.startswith("ACK ")]


def check_batches(col, where, it):
    """{batch: n_records} for the records matching where, each record's content checked."""
    r = col.get(where=where, include=["embeddings", "metadatas", "documents"])
    seen = {}
    for rid, e, m, d in zip(r["ids"], r["embeddings"], r["metadatas"], r["documents"]):
        b = m["batch"]
        ids, emb, metas, docs = batch(b)
        i = m["i"]
        assert (rid, [float(x) for x in e], m, d) == (ids[i], emb[i], metas[i], docs[i]), \
            f"iteration {it}: record {rid} differs"
        seen[b] = seen.get(b, 0) + 1
    for b, n in seen.items():
        assert n == BATCH, f"iteration {it}: batch {b} is partial ({n} of {BATCH} records)"
    return seen


def check(path, acked, n_before, it, rnd, full):
    """Check the directory after a crash; returns the number of complete batches."""
    with quiver.Database(path) as db:
        if COLLECTION not in db.list_collections():
            assert not acked, f"iteration {it}: collection lost, but batches were ACKed"
            return 0
        col = db.get_collection(COLLECTION)
        where = None if full else {"batch": {"$gte": n_before}}
        new = sorted(check_batches(col, where, it))
        lo = 0 if full else n_before
        assert new == list(range(lo, lo + len(new))), f"iteration {it}: batches not contiguous: {new}"
        n = lo + len(new)
        missing = {b for b in acked if b >= n}
        assert not missing, f"iteration {it}: ACKed batches lost: {sorted(missing)}"
        assert col.count() == BATCH * n, f"iteration {it}: count {col.count()} for {n} batches"
        for b in rnd.sample(range(n), min(3, n)) if not full else []:
            assert check_batches(col, {"batch": b}, it) == {b: BATCH}
        for b in {0, n - 1, n // 2} if n else ():  # search sees exactly the stored records
            _, emb, _, _ = batch(b)
            assert col.search(emb[7], 1) == ([f"b{b}-r7"], [0.0])
        if n:
            q = col.query([batch(n - 1)[1][3]], n_results=3, where={"batch": n - 1}, include=["metadatas"])
            assert [m["batch"] for m in q["metadatas"][0]] == [n - 1] * 3
        return n


def test_kill9_random_moments(tmp_path):
    rnd = random.Random(SEED)
    path = str(tmp_path / "db")
    acked = set()
    n = 0
    n_killed_mid_run = 0
    log = []
    with open(tmp_path / "writer.stderr", "w+") as err:
        for it in range(ITERS):
            sync = "full" if it % 2 == 0 else "normal"
            w = Writer(path, sync, err)
            if rnd.random() < 0.2:
                delay = rnd.uniform(0.0, 0.15)  # from spawn: may hit start-up, open or recovery
            else:
                w.ready.wait(timeout=60)
                delay = rnd.uniform(0.0, 0.05)
            rc = w.kill_after(delay)
            assert not any(x.startswith("PARTIAL") for x in w.lines), \
                f"iteration {it}: writer found a partial batch: {w.lines}"
            if rc not in (0, -signal.SIGKILL):
                err.seek(0)
                raise AssertionError(f"iteration {it}: writer failed (rc {rc}):\n{err.read()[-3000:]}")
            n_killed_mid_run += rc == -signal.SIGKILL and bool(w.acked())
            acked.update(w.acked())
            n = check(path, acked, n, it, rnd, full=it == ITERS - 1)
            log.append(f"{it}:{sync}:rc={rc}:acked={len(w.acked())}:batches={n}")
    print("durability:", " ".join(log))
    assert acked, "no batch was ever acknowledged: the kills came too early to test anything"
    assert n_killed_mid_run > 0

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Set-up shared by the rpforest bench scripts (rpforest_qps_cpu.py, rpforest_configs_cpu.py,
rpforest_rotated_codes.py): quiver from QVPATH (default build/python) on one thread, the
Fashion-MNIST files from DATA, and annbench's compiled Annoy."""
import glob, importlib.util, os, sys

os.environ.setdefault("QUIVER_THREADS", "1")
sys.path.insert(0, os.environ.get("QVPATH", "build/python"))
import numpy as np  # noqa: E402
import quiver  # noqa: E402,F401  (imported here so QVPATH decides which build)


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def load_data(nq_default):
    """X, Q (the first NQ queries, default nq_default) and their exact top-10 from DATA."""
    d = os.environ.get("DATA", ".data/fashion-mnist-784-euclidean")
    nq = int(os.environ.get("NQ", str(nq_default)))
    X = read_vecs(d + "/base.fvecs", np.float32)
    Q = read_vecs(d + "/query.fvecs", np.float32)[:nq]
    gt = read_vecs(d + "/gt.ivecs", np.int32)[:nq, :10]
    return X, Q, gt


def annoylib():
    """annbench's Annoy module, built for this CPU under /tmp/annbench-cache."""
    so = sorted(glob.glob("/tmp/annbench-cache/annoy-*/annoylib*.so"))[-1]
    spec = importlib.util.spec_from_file_location("annoylib", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/server/test_soak.py -- the CI version of the soak (scripts/soak.py, issue 15): 25 s of
mixed load against a live `quiver serve` (every index kind, collection create/drop), no 5xx,
final contents equal the in-memory reference model before and after a restart, and RSS
growth after warm-up within the script's limit. The one-hour run: docs/TESTING.md.
"""
import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("QUIVER_BIN", os.path.join(ROOT, "build", "quiver"))
if not os.path.exists(BIN):  # a suite that cannot run fails; it never skips itself
    pytest.fail(f"{BIN} not built (build it, or point QUIVER_BIN at the binary)", pytrace=False)

spec = importlib.util.spec_from_file_location("soak", os.path.join(ROOT, "scripts", "soak.py"))
soak = importlib.util.module_from_spec(spec)
spec.loader.exec_module(soak)


def test_soak_short(tmp_path):
    out = tmp_path / "soak.json"
    rc = soak.main(["--bin", BIN, "--duration", "25", "--warmup", "5", "--rss-interval", "1",
                    "--kinds", "hnsw,flat,ivf,rpforest", "--collections", "5",
                    "--max-records", "1500", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["5xx"] == 0
    for op in ("query", "add", "upsert", "update", "delete", "compact", "create", "drop", "get"):
        assert res["ops"].get(op, 0) > 0, (op, res["ops"])
    assert res["records_at_end"] > 0


def test_soak_detects_a_divergent_model(tmp_path, monkeypatch):
    """The checker can fail: a model that forgets a delete is caught by the final comparison."""
    real = soak.Soak.write

    def forgetful(self, op, c):
        before = dict(c["recs"])
        real(self, op, c)
        if op == "delete" or len(c["recs"]) < len(before):
            c["recs"].update(before)  # the model 'loses' the delete the server applied

    monkeypatch.setattr(soak.Soak, "write", forgetful)
    rc = soak.main(["--bin", BIN, "--duration", "3", "--warmup", "0", "--rss-interval", "0.5",
                    "--kinds", "flat", "--collections", "1", "--max-records", "400", "--batch", "8"])
    assert rc == 1

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""pytest set-up for the quiver Python module.

The module is found in $QUIVER_BUILD (default: build/python under the repository root), so
`QUIVER_BUILD=build-py/python /usr/bin/python3 -m pytest python/tests` tests another build.
"""
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.path.join(ROOT, os.environ.get("QUIVER_BUILD", os.path.join("build", "python"))))
if BUILD not in sys.path:
    sys.path.insert(0, BUILD)
os.environ["QUIVER_BUILD"] = BUILD  # for subprocesses (the durability writer)

import quiver  # noqa: E402

# numpy is required (python3-numpy, scripts/install-deps.sh): no test skips itself without it.
import numpy as np  # noqa: E402,F401


@pytest.fixture
def db():
    d = quiver.Database()
    yield d
    d.close()


@pytest.fixture
def col(db):
    """A small l2 collection of dimension 4 with five records a..e."""
    c = db.create_collection("c", 4)
    c.add(["a", "b", "c", "d", "e"],
          [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1]],
          metadatas=[{"k": 1, "tag": "x", "arr": ["p", "q"]}, {"k": 2, "tag": "y"},
                     {"k": 3, "tag": "x", "f": 2.5}, None, {"k": 5, "flag": True}],
          documents=["hello world", "goodbye world", None, "hello there", "nothing"])
    return c


def as_lists(emb):
    """Embeddings from a result (numpy array or lists) as lists of floats."""
    if emb is None:
        return None
    return [list(map(float, row)) for row in emb]


def snapshot(c):
    """Everything in a collection, comparable with ==."""
    r = c.get(include=["embeddings", "metadatas", "documents"])
    return (c.count(), r["ids"], as_lists(r["embeddings"]), r["metadatas"], r["documents"])

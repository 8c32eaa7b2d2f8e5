# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/server/test_degraded.py -- degraded open through the server (issue 15): one collection's
stored data is damaged with SQLite directly; `quiver serve` still starts, serves the other
collections, logs the skipped one and names it in /healthcheck; deleting it frees its name.
"""
import os
import sqlite3
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server import BASE, Server  # noqa: E402  (the same live-server helpers)


def test_a_corrupt_collection_is_skipped_and_named():
    with tempfile.TemporaryDirectory(prefix="quiver-degraded-") as tmp:
        data = os.path.join(tmp, "data")
        s = Server(data)
        cl = s.client()
        ids = {}
        for name in ("keep", "broken"):
            st, b, _ = cl.post(BASE + "/collections", {"name": name})
            assert st == 200, b
            ids[name] = b["id"]
            st, b, _ = cl.post(f"{BASE}/collections/{b['id']}/add", {
                "ids": ["a", "b"], "embeddings": [[1, 0], [0, 1]], "metadatas": [{"k": 1}, {"k": 2}]})
            assert st == 201, b
        st, b, _ = cl.req("GET", "/api/v2/healthcheck")
        assert st == 200 and "skipped_collections" not in b
        assert s.stop() == 0

        db = sqlite3.connect(os.path.join(data, "quiver.db"))
        cur = db.execute("UPDATE records SET metadata='{not json' WHERE id='a' AND cid="
                         "(SELECT cid FROM collections WHERE name='broken')")  # the default database's: a plain name
        assert cur.rowcount == 1
        db.commit()
        db.close()

        s = Server(data)
        try:
            cl = s.client()
            st, b, _ = cl.req("GET", "/api/v2/healthcheck")
            assert st == 200, b
            assert len(b["skipped_collections"]) == 1
            assert b["skipped_collections"][0].startswith("broken: ")
            st, b, _ = cl.post(f"{BASE}/collections/{ids['keep']}/query",
                               {"query_embeddings": [[1, 0.1]], "n_results": 2})
            assert st == 200 and b["ids"] == [["a", "b"]], b
            st, b, _ = cl.req("GET", f"{BASE}/collections/broken")
            assert st == 404, b
            assert "skipped a collection" in s.output() and "broken" in s.output()
            # the skipped collection can be deleted, which frees its name
            st, b, _ = cl.req("DELETE", f"{BASE}/collections/broken")
            assert st == 200, b
            st, b, _ = cl.req("GET", "/api/v2/healthcheck")
            assert st == 200 and "skipped_collections" not in b, b
            st, b, _ = cl.req("DELETE", f"{BASE}/collections/broken")
            assert st == 404, b
            st, b, _ = cl.post(BASE + "/collections", {"name": "broken"})
            assert st == 200, b
            st, n, _ = cl.req("GET", f"{BASE}/collections/{b['id']}/count")
            assert st == 200 and n == 0, n  # none of the old records came back
        finally:
            assert s.stop() == 0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Thread-safety smoke tests: the GIL is released around libquiver calls, so these really run
concurrently inside libquiver."""
import random
import threading
import time

import pytest

import quiver


def test_queries_while_adding(tmp_path):
    with quiver.Database(str(tmp_path / "d"), sync="normal") as db:
        col = db.create_collection("t", 8)
        col.add_vectors([[random.random() for _ in range(8)] for _ in range(200)])
        stop = threading.Event()
        errors = []
        n_queries = [0] * 4

        def reader(slot):
            rnd = random.Random(slot)
            try:
                while not stop.is_set():
                    q = [rnd.random() for _ in range(8)]
                    ids, dists = col.search(q, 5)
                    assert len(ids) == 5 and dists == sorted(dists)
                    r = col.query([q], n_results=3, where={"b": {"$gte": 0}})
                    assert len(r["ids"][0]) <= 3
                    col.get(limit=5)
                    n_queries[slot] += 1
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        def writer():
            try:
                for b in range(40):
                    ids = [f"w{b}-{i}" for i in range(25)]
                    col.add(ids, [[random.random() for _ in range(8)] for _ in ids],
                            metadatas=[{"b": b} for _ in ids])
                    col.update(ids[:2], documents=["x", "y"])
                    col.delete(ids=ids[-1:])
            except Exception as e:  # pragma: no cover
                errors.append(e)

        readers = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
        w = threading.Thread(target=writer)
        for t in readers:
            t.start()
        w.start()
        w.join(timeout=120)
        stop.set()
        for t in readers:
            t.join(timeout=60)
        assert not errors, errors
        assert all(n > 0 for n in n_queries)
        assert col.count() == 200 + 40 * 24
        assert len(col.get(where={"b": {"$gte": 0}})["ids"]) == 40 * 24


def test_close_while_other_threads_query():
    db = quiver.Database()
    col = db.create_collection("t", 16)
    col.add_vectors([[random.random() for _ in range(16)] for _ in range(2000)])
    started = threading.Barrier(5)
    outcomes = []

    def reader():
        started.wait()
        try:
            while True:
                col.search([0.5] * 16, 10)
                col.query([[0.5] * 16], n_results=3, where={"x": {"$ne": 1}})
                col.add([f"t{threading.get_ident()}-{time.monotonic_ns()}"], [[0.1] * 16])
        except quiver.MisuseError:
            outcomes.append("closed")
        except Exception as e:  # pragma: no cover
            outcomes.append(e)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.05)
    db.close()
    for t in threads:
        t.join(timeout=30)
    assert outcomes == ["closed"] * 4


def test_many_threads_search_batch():
    db = quiver.Database(n_threads=2)
    col = db.create_collection("t", 8)
    col.add_vectors([[random.random() for _ in range(8)] for _ in range(500)])
    Q = [[random.random() for _ in range(8)] for _ in range(20)]
    expected = col.search_batch(Q, 5)
    results = []

    def worker():
        for _ in range(20):
            results.append(col.search_batch(Q, 5) == expected)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results and all(results)
    db.close()


@pytest.mark.parametrize("n", [3])
def test_collections_collected_across_threads(n):
    db = quiver.Database()
    for i in range(n):
        db.create_collection(f"c{i}", 2)

    def worker(i):
        for _ in range(50):
            c = db.get_collection(f"c{i}")
            c.add_vectors([[1.0, 2.0]])
            del c

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert [db.get_collection(f"c{i}").count() for i in range(n)] == [50] * n
    db.close()

# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Snapshot files from Python and the CLI: Collection.export / quiver.open_static answering
search, query with filters and get as the collection did (flat, rpforest, hnsw, hamming);
two processes mapping the same file; truncated, bit-flipped and wrong-version files refused
with quiver.CorruptError in Python and a non-zero exit with the reason from `quiver verify`.
"""
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import quiver

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("QUIVER_BIN", ROOT / "build" / "quiver"))


def make(db, kind, metric="l2", n=2000, dim=24):
    rng = np.random.default_rng(11)
    col = db.create_collection(kind + metric, dim=dim if metric != "hamming" else dim * 8, metric=metric, index=kind)
    if metric == "hamming":
        X = rng.integers(0, 256, (n, dim), dtype=np.uint8)
        col.add_vectors(X)
    else:
        X = rng.standard_normal((n, dim)).astype(np.float32)
        col.add(ids=[str(i) for i in range(n)], embeddings=X, metadatas=[{"g": i % 5, "even": i % 2 == 0} for i in range(n)],
                documents=["doc %d" % i for i in range(n)])
    return col, X


@pytest.mark.parametrize("kind,metric", [("flat", "l2"), ("rpforest", "l2"), ("hnsw", "cosine"), ("rpforest", "hamming"),
                                         ("flat", "hamming"), ("rpforest", "manhattan")])
def test_export_open_static(db, tmp_path, kind, metric):
    col, X = make(db, kind, metric)
    path = tmp_path / "snap.qvs"
    col.export(str(path))
    with quiver.open_static(str(path), verify=True) as st:
        info = st.info()
        assert info["count"] == 2000 and info["index"] == kind and st.metric == ("l1" if metric == "manhattan" else metric)
        assert st.dim == col.dim
        for q in X[:30]:
            assert st.search(q, 7) == col.search(q, 7)
        assert st.search_batch(X[:3], 4)[0] == col.search_batch(X[:3], 4)[0]
        if metric != "hamming":
            r = st.query(X[:2], n_results=5, where={"g": 3})
            assert all(m["g"] == 3 for row in r["metadatas"] for m in row)
            if kind == "flat":
                assert r == col.query(X[:2], n_results=5, where={"g": 3})
            g = st.get(ids=["17", "missing"], include=["metadatas", "documents", "embeddings"])
            assert g["ids"] == ["17"] and g["documents"] == ["doc 17"] and g["metadatas"] == [{"g": 2, "even": False}]
            assert st.get(where={"$and": [{"g": 1}, {"even": True}]}, limit=3)["ids"] == ["6", "16", "26"]
        st.verify()


def test_two_processes_share_the_file(db, tmp_path):
    col, X = make(db, "rpforest", n=3000)
    path = tmp_path / "s.qvs"
    col.export(str(path))
    code = ("import sys, numpy as np; sys.path.insert(0, %r); import quiver; s = quiver.open_static(%r); "
            "print(s.search(np.load(%r), 3)[0])")
    np.save(tmp_path / "q.npy", X[42])
    outs = [subprocess.run([sys.executable, "-c", code % (os.environ["QUIVER_BUILD"], str(path), str(tmp_path / "q.npy"))],
                           capture_output=True, text=True, timeout=60) for _ in range(2)]
    for o in outs:
        assert o.returncode == 0, o.stderr
        assert o.stdout.strip() == str(col.search(X[42], 3)[0])


def corrupt_variants(data):
    yield "truncated", data[: len(data) // 2]
    yield "truncated by one byte", data[:-1]
    yield "empty", b""
    flipped = bytearray(data)
    flipped[20] ^= 0x04
    yield "header bit flip", bytes(flipped)
    flipped = bytearray(data)
    flipped[140] ^= 0x80
    yield "section table bit flip", bytes(flipped)
    v2 = bytearray(data)
    v2[8:12] = struct.pack("<I", 7)
    v2[124:128] = struct.pack("<I", zlib.crc32(bytes(v2[:124])))
    yield "version 7", bytes(v2)


def test_corrupt_files_every_face(db, tmp_path):
    col, X = make(db, "flat", n=500)
    good = tmp_path / "good.qvs"
    col.export(str(good))
    data = good.read_bytes()
    r = subprocess.run([str(BIN), "verify", str(good)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "500 records" in r.stdout, r.stderr
    for what, bad in corrupt_variants(data):
        p = tmp_path / "bad.qvs"
        p.write_bytes(bad)
        with pytest.raises(quiver.CorruptError, match=str(p)) as ei:
            quiver.open_static(str(p))
        if what == "version 7":
            assert "unsupported snapshot format version 7" in str(ei.value)
        r = subprocess.run([str(BIN), "verify", str(p)], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and str(p) in r.stderr and "QV_CORRUPT" in r.stderr, (what, r.stderr)
    # damage inside a big section: found by verify (Python and CLI), searches do not crash
    bad = bytearray(data)
    bad[len(bad) - 100] ^= 0xFF
    p = tmp_path / "inner.qvs"
    p.write_bytes(bytes(bad))
    st = quiver.open_static(str(p))
    st.search(X[0], 3)
    with pytest.raises(quiver.CorruptError, match="checksum"):
        st.verify()
    with pytest.raises(quiver.CorruptError, match="checksum"):
        quiver.open_static(str(p), verify=True)
    assert subprocess.run([str(BIN), "verify", str(p)], capture_output=True, timeout=60).returncode != 0
    with pytest.raises(quiver.NotFoundError):
        quiver.open_static(str(tmp_path / "absent.qvs"))


def test_cli_export(tmp_path):
    data = tmp_path / "data"
    d = quiver.Database(str(data))
    col, X = make(d, "rpforest", n=800)
    want = col.search(X[5], 4)
    d.close()
    out = tmp_path / "cli.qvs"
    r = subprocess.run([str(BIN), "export", "rpforestl2", str(out), "--data", str(data)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with quiver.open_static(str(out)) as st:
        assert st.search(X[5], 4) == want
    r = subprocess.run([str(BIN), "export", "nope", str(out), "--data", str(data)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "no such collection" in r.stderr


def test_cli_import_packed_bits(tmp_path):
    rng = np.random.default_rng(8)
    P = np.packbits(rng.integers(0, 2, (400, 96)).astype(bool), axis=1)
    np.save(tmp_path / "b.npy", P)
    data = tmp_path / "data"
    r = subprocess.run([str(BIN), "import", "bits", str(tmp_path / "b.npy"), "--data", str(data), "--create",
                        "--metric", "hamming"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    d = quiver.Database(str(data))
    col = d.get_collection("bits")
    assert col.dim == 96 and col.count() == 400
    ids, dist = col.search(P[33], 3)
    assert ids[0] == "33" and dist[0] == 0.0
    exact = np.sort(np.unpackbits(P ^ P[33], axis=1).sum(1))[:3]
    assert dist == [float(x) for x in exact]
    d.close()
    # float32 rows into a hamming collection: refused naming the field
    np.save(tmp_path / "f.npy", rng.standard_normal((3, 96)).astype(np.float32))
    r = subprocess.run([str(BIN), "import", "bits", str(tmp_path / "f.npy"), "--data", str(data)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "hamming" in r.stderr


def test_http_packed_bits(tmp_path):
    """The server's records routes take a hamming collection's vectors as rows of packed bytes."""
    import http.client
    import json
    import socket
    import time
    P = np.packbits(np.random.default_rng(9).integers(0, 2, (300, 64)).astype(bool), axis=1)
    data = str(tmp_path / "srv")
    d = quiver.Database(data)
    d.create_collection("default_tenant/default_database/bits", dim=64, metric="hamming").add_vectors(P)
    d.close()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([str(BIN), "serve", "--data", data, "--port", str(port), "--log-level", "warn"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = "/api/v2/tenants/default_tenant/databases/default_database"

    def req(method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request(method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")

    try:
        for _ in range(200):
            try:
                st, col = req("GET", base + "/collections/bits")
                break
            except OSError:
                time.sleep(0.05)
        assert st == 200 and col["dimension"] == 64
        cid = col["id"]
        st, r = req("POST", f"{base}/collections/{cid}/query",
                    {"query_embeddings": [P[5].tolist()], "n_results": 3, "include": ["distances"]})
        assert st == 200 and r["ids"][0][0] == "5"
        assert r["distances"][0] == [float(x) for x in np.sort(np.unpackbits(P ^ P[5], axis=1).sum(1))[:3]]
        new = [255, 0, 255, 0, 255, 0, 255, 0]
        assert req("POST", f"{base}/collections/{cid}/add", {"ids": ["x"], "embeddings": [new]})[0] == 201
        st, r = req("POST", f"{base}/collections/{cid}/query", {"query_embeddings": [new], "n_results": 1,
                                                                 "include": ["distances"]})
        assert r["ids"] == [["x"]] and r["distances"] == [[0]]
        st, r = req("POST", f"{base}/collections/{cid}/add", {"ids": ["y"], "embeddings": [[1.5] * 8]})
        assert st == 400 and "embeddings[0][0]" in r["message"] and "0..255" in r["message"]
        st, r = req("POST", f"{base}/collections/{cid}/query", {"query_embeddings": [[1] * 9], "n_results": 1})
        assert st == 400 and "8 packed bytes" in r["message"]
    finally:
        p.terminate()
        p.wait(timeout=30)

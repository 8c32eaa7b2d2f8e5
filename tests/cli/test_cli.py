# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cli/test_cli.py -- black-box tests of the `quiver` command-line tool.

Every test runs the real binary (env QUIVER_BIN, default build/quiver under the repository
root) as a subprocess against a fresh data directory under tmp_path, so each invocation opens
and closes the database: persistence across invocations is exercised throughout.

Exit codes checked everywhere: 0 success, 1 runtime failure, 2 usage error; every error is a
line "quiver: <command>: <message>" on stderr.

Run: /usr/bin/python3 -m pytest -q tests/cli
"""
import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("QUIVER_BIN", ROOT / "build" / "quiver"))
FMNIST = ROOT / ".data" / "fashion-mnist-784-euclidean" / "base.fvecs"

if not BIN.exists():  # a suite that cannot run fails; it never skips itself
    pytest.fail(f"{BIN} not built (build it, or point QUIVER_BIN at the binary)", pytrace=False)


# ----------------------------------------------------------------------------- helpers

class Quiver:
    """Runs the binary on one data directory."""

    def __init__(self, data):
        self.data = Path(data)

    def run(self, *args, input=None, env=None, data=True):
        cmd = [str(BIN)] + (["--data", str(self.data)] if data else []) + [str(a) for a in args]
        full_env = dict(os.environ)
        full_env.pop("QUIVER_DATA", None)
        if env:
            full_env.update(env)
        return subprocess.run(cmd, input=input, capture_output=True, text=True, env=full_env,
                              timeout=120)

    def ok(self, *args, **kw):
        p = self.run(*args, **kw)
        assert p.returncode == 0, f"{args}: rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}"
        return p

    def fails(self, code, *args, **kw):
        p = self.run(*args, **kw)
        assert p.returncode == code, f"{args}: rc={p.returncode} (want {code})\nstderr={p.stderr}"
        assert p.stderr.startswith("quiver: "), p.stderr
        return p

    def json(self, *args, **kw):
        return json.loads(self.ok(*args, "--json", **kw).stdout)

    def count(self, name):
        return self.json("info", name)["count"]


@pytest.fixture
def q(tmp_path):
    return Quiver(tmp_path / "data")


def write_fvecs(path, x):
    x = np.asarray(x, dtype=np.float32)
    with open(path, "wb") as f:
        for row in x:
            f.write(struct.pack("<i", row.shape[0]))
            f.write(row.astype("<f4").tobytes())
    return path


def write_jsonl(path, records, raw_lines=()):
    """records: dicts; raw_lines: {line_number (1-based): text} replacing that line."""
    lines = [json.dumps(r) for r in records]
    for n, text in dict(raw_lines).items():
        lines[n - 1] = text
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def sample_records(n=6, dim=4):
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        out.append({
            "id": f"doc{i}",
            "embedding": [float(v) for v in rng.random(dim, dtype=np.float32)],
            "metadata": {"i": i, "parity": "even" if i % 2 == 0 else "odd", "score": i / 2},
            "document": f"document number {i} about {'cats' if i % 3 == 0 else 'dogs'}",
        })
    return out


@pytest.fixture
def loaded(q, tmp_path):
    """A collection 'docs' (dim 4, l2) holding sample_records()."""
    recs = sample_records()
    q.ok("create", "docs", "--dim", 4)
    q.ok("import", "docs", write_jsonl(tmp_path / "s.jsonl", recs))
    return q, recs


# ----------------------------------------------------------------------------- basics

def test_version_and_help(q):
    assert q.ok("--version").stdout.startswith("quiver ")
    assert "commands:" in q.ok("--help").stdout
    for cmd in ["create", "list", "info", "import", "query", "get", "delete", "drop", "rename"]:
        p = q.ok(cmd, "--help")
        assert f"usage: quiver {cmd}" in p.stdout
        assert q.ok("help", cmd).stdout == p.stdout


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["--bogus", "list"],
    ["create"],
    ["create", "x", "--metric", "minkowski"],
    ["create", "x", "--dim", "abc"],
    ["create", "x", "--dim", "0"],
    ["create", "x", "--metadata", "[1,2]"],
    ["list", "extra"],
    ["info"],
    ["import", "docs"],
    ["import", "docs", "file.weird"],
    ["import", "docs", "f.jsonl", "--dim", "3"],
    ["import", "docs", "f.jsonl", "--batch", "0"],
    ["query", "docs", "--bogus"],
    ["query", "docs", "-k"],
    ["query", "docs", "-k", "ten", "--vector", "1"],
    ["query", "docs", "--vector", "1", "--where", "{not json"],
    ["query", "docs", "--vector", "1", "--include", "colours"],
    ["get", "docs", "--limit", "-1"],
    ["get", "docs", "--where-document", "\"just a string\""],
    ["delete", "docs"],
    ["rename", "only-one"],
    ["drop"],
])
def test_usage_errors_exit_2(q, args):
    p = q.run(*args)
    assert p.returncode == 2, (args, p.stderr)
    assert p.stderr.startswith("quiver"), p.stderr
    assert "usage" in p.stderr or "Try 'quiver" in p.stderr


def test_error_format_names_command(q):
    p = q.fails(2, "query", "docs", "--nope")
    assert p.stderr.splitlines()[0] == "quiver: query: unknown option '--nope'"


def test_read_commands_do_not_create_data_dir(q):
    assert q.ok("list").stdout == ""
    assert q.json("list") == []
    q.fails(1, "info", "nothing")
    assert not q.data.exists()


def test_quiver_data_env(tmp_path):
    q = Quiver(tmp_path / "env-data")
    env = {"QUIVER_DATA": str(q.data)}
    q.ok("create", "e", "--dim", 2, data=False, env=env)
    assert q.data.is_dir()
    assert q.ok("list", data=False, env=env).stdout.split() == ["e"]
    # --data after the command wins too
    assert q.ok("list", "--data", str(q.data), data=False).stdout.split() == ["e"]


# ----------------------------------------------------------------------------- collections

def test_index_kinds_and_params(q):
    """Index kinds by name and their parameters as JSON: the CLI never lists a kind's settings."""
    p = q.fails(1, "create", "x", "--index", "ivf9")
    assert 'unknown kind "ivf9"' in p.stderr and "flat, hnsw" in p.stderr
    q.ok("create", "p", "--dim", 4, "--index", "hnsw", "--param", "quantizer=none", "--params",
         '{"M": 6, "ef_search": 33}')
    assert q.json("info", "p")["params"] == {"M": 6, "ef_construction": 200, "ef_search": 33,
                                            "quantizer": "none", "rerank": 3, "build_on_codes": True,
                                            "keep_floats": False}
    p = q.fails(1, "create", "y", "--dim", 4, "--index", "hnsw", "--param", "M=1")
    assert "params.M: 1 is outside 2..256" in p.stderr
    p = q.fails(1, "create", "y", "--dim", 4, "--param", "M=8")
    assert "M: unknown parameter for index kind flat" in p.stderr
    p = q.fails(2, "create", "y", "--param", "novalue")
    assert "--param expects KEY=VALUE" in p.stderr
    p = q.fails(2, "create", "y", "--params", "[1]")
    assert "--params must be a JSON object" in p.stderr


def test_collection_lifecycle(q):
    q.ok("create", "b", "--dim", 8, "--metric", "cosine", "--metadata", '{"owner": "me"}')
    q.ok("create", "a", "--dim", 3, "--index", "hnsw", "--M", 8, "--ef-construction", 50,
         "--ef-search", 20)
    q.fails(1, "create", "a", "--dim", 3)
    q.ok("create", "a", "--dim", 3, "--exist-ok")
    assert q.ok("list").stdout.split() == ["a", "b"]
    listed = q.json("list")
    assert [c["name"] for c in listed] == ["a", "b"]
    assert listed[1]["metric"] == "cosine" and listed[1]["dim"] == 8

    info = q.json("info", "a")
    assert info["index"] == "hnsw"
    assert info["params"] == {"M": 8, "ef_construction": 50, "ef_search": 20, "quantizer": "auto",
                              "rerank": 3, "build_on_codes": True, "keep_floats": False}
    assert info["count"] == 0
    for key in ["slots", "tombstones", "mem_vectors", "mem_graph", "max_level", "last_seq",
                "checkpoint_seq", "mem_codes", "mem_ids", "mem_metadata", "mem_documents",
                "bytes_per_record"]:
        assert key in info["stats"]
    assert q.json("info", "b")["metadata"] == {"owner": "me"}
    assert q.json("info", "b")["config"] is None  # only a server face sets one
    text = q.ok("info", "a").stdout
    assert ('hnsw {"M":8,"ef_construction":50,"ef_search":20,"quantizer":"auto","rerank":3,'
            '"build_on_codes":true,"keep_floats":false}') in text
    assert "vector memory" in text and "graph memory" in text

    # internal collections (the HTTP server's catalog) only with --all
    q.ok("create", "__quiver_internal", "--dim", 2)
    assert q.ok("list").stdout.split() == ["a", "b"]
    assert [c["name"] for c in q.json("list")] == ["a", "b"]
    assert q.ok("list", "--all").stdout.split() == ["__quiver_internal", "a", "b"]
    assert [c["name"] for c in q.json("list", "-a")] == ["__quiver_internal", "a", "b"]
    assert len(q.ok("list", "--long").stdout.splitlines()) == 3
    q.ok("drop", "__quiver_internal")

    q.ok("rename", "a", "c")
    q.fails(1, "rename", "a", "d")
    q.fails(1, "rename", "b", "c")
    assert q.ok("list").stdout.split() == ["b", "c"]
    q.ok("drop", "c")
    p = q.fails(1, "drop", "c")
    assert "no such collection 'c'" in p.stderr
    q.ok("drop", "c", "--if-exists")
    assert q.ok("list").stdout.split() == ["b"]


def test_unknown_collection_is_runtime_error(q):
    q.ok("create", "x", "--dim", 2)
    for args in (["info", "nope"], ["query", "nope", "--vector", "1,2"], ["get", "nope"],
                 ["delete", "nope", "--ids", "a"]):
        p = q.fails(1, *args)
        assert "no such collection 'nope'" in p.stderr


# ----------------------------------------------------------------------------- import

def test_import_jsonl_and_get(loaded):
    q, recs = loaded
    got = q.json("get", "docs", "--include", "all")
    assert got["ids"] == [r["id"] for r in recs]
    assert got["metadatas"] == [r["metadata"] for r in recs]
    assert got["documents"] == [r["document"] for r in recs]
    np.testing.assert_allclose(got["embeddings"], [r["embedding"] for r in recs], rtol=1e-6)
    assert got["include"] == ["metadatas", "documents", "embeddings"]
    assert got["uris"] is None and "distances" not in got

    page = q.json("get", "docs", "--limit", 2, "--offset", 1)
    assert page["ids"] == ["doc1", "doc2"]
    assert page["embeddings"] is None
    # by ids: in the order asked, missing ids skipped (quiver.h, qv_collection_get_records)
    assert q.json("get", "docs", "--ids", "doc3,missing", "--ids", "doc0")["ids"] == ["doc3", "doc0"]
    even = q.json("get", "docs", "--where", '{"parity": "even"}')
    assert even["ids"] == ["doc0", "doc2", "doc4"]
    cats = q.json("get", "docs", "--where-document", '{"$contains": "cats"}')
    assert cats["ids"] == ["doc0", "doc3"]

    table = q.ok("get", "docs").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "METADATA", "DOCUMENT"]
    assert len(table) == 1 + len(recs)


def test_import_jsonl_generated_ids_blank_lines(q, tmp_path):
    f = tmp_path / "g.jsonl"
    f.write_text('{"embedding": [1, 2]}\n\n   \n{"embedding": [3, 4], "document": "x"}\n')
    p = q.ok("import", "g", f, "--create")   # dim from the first line
    assert p.stdout.startswith("imported 2 records in ")
    assert p.stderr == ""                    # no progress bar when stderr is not a terminal
    assert q.json("info", "g")["dim"] == 2
    assert q.json("get", "g")["ids"] == ["0", "1"]
    q.ok("import", "g", f, "--id-prefix", "p-")   # continues from the count
    assert q.json("get", "g")["ids"] == ["0", "1", "p-2", "p-3"]


def test_import_fvecs_ids_continue_from_count(q, tmp_path):
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    f = write_fvecs(tmp_path / "x.fvecs", x)
    q.ok("import", "v", f, "--create", "--batch", 2)
    info = q.json("info", "v")
    assert info["dim"] == 4 and info["count"] == 5
    q.ok("import", "v", f)
    assert q.json("get", "v", "--include", "")["ids"] == [str(i) for i in range(10)]
    q.ok("import", "v", f, "--ids-from", 100, "--id-prefix", "r")
    assert q.json("get", "v", "--offset", 10, "--include", "")["ids"] == [f"r{i}" for i in range(100, 105)]
    q.fails(1, "import", "v", f, "--ids-from", 100, "--id-prefix", "r")  # duplicates
    q.ok("import", "v", f, "--ids-from", 100, "--id-prefix", "r", "--skip-existing")
    q.ok("import", "v", f, "--ids-from", 100, "--id-prefix", "r", "--upsert")
    assert q.count("v") == 15
    got = q.json("get", "v", "--ids", "3", "--include", "embeddings")
    assert got["embeddings"] == [[12, 13, 14, 15]]


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_import_npy(q, tmp_path, version):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 5)).astype(np.float32)
    f = tmp_path / "x.npy"
    with open(f, "wb") as fh:
        np.lib.format.write_array(fh, x, version=version)
    q.ok("import", "n", f, "--create", "--metric", "ip", "--batch", 7)
    assert q.count("n") == 30
    res = q.json("query", "n", "--vector-file", f, "--rows", 3, "-k", 1, "--include",
                 "distances", "--exact")
    assert len(res["ids"]) == 3
    dots = x[:3] @ x.T
    assert [r[0] for r in res["ids"]] == [str(i) for i in dots.argmax(axis=1)]


def test_import_npy_wrong_dtype_and_order(q, tmp_path):
    q.ok("create", "n", "--dim", 3)
    f64 = tmp_path / "d.npy"
    np.save(f64, np.zeros((2, 3), dtype=np.float64))
    p = q.fails(1, "import", "n", f64)
    assert "'<f8'" in p.stderr and "float32" in p.stderr
    fo = tmp_path / "f.npy"
    np.save(fo, np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
    assert "Fortran" in q.fails(1, "import", "n", fo).stderr
    three = tmp_path / "t.npy"
    np.save(three, np.zeros((2, 3, 1), dtype=np.float32))
    assert "2-D" in q.fails(1, "import", "n", three).stderr
    assert q.count("n") == 0


def test_import_wrong_dimension(q, tmp_path):
    q.ok("create", "w", "--dim", 3)
    f = write_fvecs(tmp_path / "x.fvecs", np.ones((4, 5)))
    p = q.fails(1, "import", "w", f)
    assert "dimension 5" in p.stderr and "dimension 3" in p.stderr
    j = write_jsonl(tmp_path / "x.jsonl", [{"id": "a", "embedding": [1, 2]}])
    p = q.fails(1, "import", "w", j)
    assert "line 1" in p.stderr and "expected 3" in p.stderr
    assert q.count("w") == 0


def test_import_nan_in_fvecs(q, tmp_path):
    x = np.ones((6, 3), dtype=np.float32)
    x[4, 1] = np.nan
    f = write_fvecs(tmp_path / "nan.fvecs", x)
    p = q.fails(1, "import", "f", f, "--create", "--batch", 3)
    assert "row 4" in p.stderr and "NaN" in p.stderr
    assert q.count("f") == 3   # first batch written, the failing batch not


def test_import_malformed_jsonl_line(q, tmp_path):
    recs = sample_records(5)
    f = write_jsonl(tmp_path / "m.jsonl", recs, {3: '{"id": "x", "embedding": [1, 2, 3, '})
    q.ok("create", "m", "--dim", 4)
    p = q.fails(1, "import", "m", f)
    assert "line 3" in p.stderr and "invalid JSON" in p.stderr
    assert q.count("m") == 0
    for raw, words in [('[1, 2]', "object"),
                       ('{"id": "x"}', "embedding"),
                       ('{"id": 5, "embedding": [1,2,3,4]}', "'id' must be a string"),
                       ('{"id": "x", "embedding": [1,"a",3,4]}', "embedding[1]"),
                       ('{"id": "x", "embedding": [1,2,3,4], "metadata": [1]}', "metadata"),
                       ('{"id": "x", "embedding": [1,2,3,4], "colour": 1}', "unknown field"),
                       ('{"id": "x", "embedding": [1,2,3,1e39]}', "embedding[3]")]:
        f = write_jsonl(tmp_path / "m2.jsonl", recs, {2: raw})
        p = q.fails(1, "import", "m", f)
        assert "line 2" in p.stderr and words in p.stderr, (raw, p.stderr)
    assert q.count("m") == 0


def test_import_bad_row_is_all_or_nothing_per_batch(q, tmp_path):
    recs = sample_records(25)
    q.ok("create", "b", "--dim", 4)
    bad = write_jsonl(tmp_path / "b.jsonl", recs, {15: '{"id": "bad", "embedding": [1, 2]}'})
    p = q.fails(1, "import", "b", bad, "--batch", 10)
    assert "line 15" in p.stderr
    assert "10 records were imported before the error" in p.stderr
    assert q.json("get", "b", "--include", "")["ids"] == [f"doc{i}" for i in range(10)]

    # an error only the library sees (duplicate id inside a batch) is reported with its line
    q.ok("drop", "b")
    q.ok("create", "b", "--dim", 4)
    dup = dict(recs[12], id="doc11")
    f = write_jsonl(tmp_path / "d.jsonl", recs[:12] + [dup] + recs[13:])
    p = q.fails(1, "import", "b", f, "--batch", 10)
    assert "line 13" in p.stderr and "doc11" in p.stderr   # the library names ids[2] of the batch
    assert q.count("b") == 10


def test_import_from_stdin(q, tmp_path):
    recs = sample_records(3)
    text = "".join(json.dumps(r) + "\n" for r in recs)
    q.fails(2, "import", "s", "-", "--create", input=text)   # format needed for stdin
    q.ok("import", "s", "-", "--create", "--format", "jsonl", input=text)
    assert q.count("s") == 3


# ----------------------------------------------------------------------------- query

def test_query_table_and_json(loaded):
    q, recs = loaded
    v = ",".join(str(x) for x in recs[2]["embedding"])
    res = q.json("query", "docs", "--vector", v, "-k", 3)
    assert set(res) == {"ids", "embeddings", "documents", "uris", "metadatas", "distances",
                        "include"}
    assert res["ids"][0][0] == "doc2" and len(res["ids"]) == 1 and len(res["ids"][0]) == 3
    assert res["distances"][0][0] == pytest.approx(0, abs=1e-5)
    assert res["distances"][0] == sorted(res["distances"][0])
    assert res["metadatas"][0][0] == recs[2]["metadata"]
    assert res["documents"][0][0] == recs[2]["document"]
    assert res["embeddings"] is None
    assert res["include"] == ["metadatas", "documents", "distances"]

    lines = q.ok("query", "docs", "--vector", v, "-k", 3).stdout.splitlines()
    assert lines[0].split() == ["RANK", "ID", "DISTANCE", "METADATA", "DOCUMENT"]
    assert lines[1].split()[:2] == ["1", "doc2"]
    assert len(lines) == 4

    # brute force agrees
    x = np.array([r["embedding"] for r in recs], dtype=np.float32)
    d = ((x - x[2]) ** 2).sum(axis=1)
    assert res["ids"][0] == [f"doc{i}" for i in np.argsort(d)[:3]]


def test_query_filters(loaded):
    q, recs = loaded
    v = ",".join(str(x) for x in recs[0]["embedding"])
    res = q.json("query", "docs", "--vector", v, "--where", '{"parity": "odd"}')
    assert sorted(res["ids"][0]) == ["doc1", "doc3", "doc5"]
    res = q.json("query", "docs", "--vector", v, "--where", '{"i": {"$gte": 4}}',
                 "--where-document", '{"$contains": "dogs"}')
    assert res["ids"] == [["doc4", "doc5"]] or sorted(res["ids"][0]) == ["doc4", "doc5"]
    res = q.json("query", "docs", "--vector", v, "--where", '{"parity": "none"}')
    assert res["ids"] == [[]]
    assert "(no results)" in q.ok("query", "docs", "--vector", v, "--where",
                                  '{"parity": "none"}').stdout


def test_query_bad_filter_is_runtime_error(loaded):
    q, _ = loaded
    p = q.fails(1, "query", "docs", "--vector", "1,2,3,4", "--where", '{"i": {"$regex": 1}}')
    assert "$regex" in p.stderr
    q.fails(1, "get", "docs", "--where", '{"$and": 5}')
    q.fails(1, "delete", "docs", "--where", '{"i": {"$gt": "x", "$bogus": 1}}')
    assert q.count("docs") == 6


def test_query_vector_sources(loaded, tmp_path):
    q, recs = loaded
    x = np.array([r["embedding"] for r in recs], dtype=np.float32)
    # stdin, whitespace separated
    res = q.json("query", "docs", "-k", 1, input=" ".join(map(str, x[1])) + "\n")
    assert res["ids"] == [["doc1"]]
    # text file with two rows = a batch of two queries
    t = tmp_path / "q.txt"
    t.write_text("\n".join(",".join(map(str, row)) for row in x[[3, 5]]) + "\n")
    res = q.json("query", "docs", "--vector-file", t, "-k", 1)
    assert res["ids"] == [["doc3"], ["doc5"]]
    table = q.ok("query", "docs", "--vector-file", t, "-k", 1).stdout
    assert "query 1 of 2" in table and "query 2 of 2" in table
    # JSON-looking text works too
    t.write_text(json.dumps([x[4].tolist()]))
    assert q.json("query", "docs", "--vector-file", t, "-k", 1)["ids"] == [["doc4"]]
    # .fvecs: first row by default, --row / --rows select
    f = write_fvecs(tmp_path / "q.fvecs", x[[2, 0, 1]])
    assert q.json("query", "docs", "--vector-file", f, "-k", 1)["ids"] == [["doc2"]]
    assert q.json("query", "docs", "--vector-file", f, "-k", 1, "--row", 1)["ids"] == [["doc0"]]
    res = q.json("query", "docs", "--vector-file", f, "-k", 1, "--rows", 0)
    assert res["ids"] == [["doc2"], ["doc0"], ["doc1"]]
    # .npy
    n = tmp_path / "q.npy"
    np.save(n, x[[5]])
    assert q.json("query", "docs", "--vector-file", n, "-k", 1)["ids"] == [["doc5"]]


def test_query_runtime_errors(loaded, tmp_path):
    q, _ = loaded
    p = q.fails(1, "query", "docs", "--vector", "1,2,3")
    assert "dimension 4" in p.stderr
    p = q.fails(1, "query", "docs", "--vector", "1,nan,3,4")
    assert "NaN" in p.stderr
    p = q.fails(1, "query", "docs", "--vector", "1,two,3,4")
    assert "not a number: 'two'" in p.stderr
    f = write_fvecs(tmp_path / "q.fvecs", np.ones((1, 7)))
    assert "dimension 4" in q.fails(1, "query", "docs", "--vector-file", f).stderr
    assert "cannot open" in q.fails(1, "query", "docs", "--vector-file", tmp_path / "no.txt").stderr
    q.fails(2, "query", "docs", input="")


def test_query_hnsw_with_ef(q, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    f = write_fvecs(tmp_path / "h.fvecs", x)
    q.ok("import", "h", f, "--create", "--index", "hnsw", "--M", 8, "--ef-construction", 64)
    res = q.json("query", "h", "--vector-file", f, "--row", 17, "-k", 5, "--ef", 100)
    assert res["ids"][0][0] == "17"
    info = q.json("info", "h")
    assert info["index"] == "hnsw" and info["count"] == 300
    assert info["stats"]["mem_graph"] > 0


# ----------------------------------------------------------------------------- delete / persistence

def test_delete_records(loaded):
    q, _ = loaded
    assert q.ok("delete", "docs", "--ids", "doc0,doc1,missing").stdout.strip() == "deleted 2 records"
    assert q.ok("delete", "docs", "--where", '{"parity": "even"}').stdout.strip() == "deleted 2 records"
    assert q.json("get", "docs", "--include", "")["ids"] == ["doc3", "doc5"]
    q.ok("delete", "docs", "--where-document", '{"$contains": "cats"}')
    assert q.json("get", "docs", "--include", "")["ids"] == ["doc5"]
    assert q.json("info", "docs")["stats"]["count"] == 1


def test_compact(q, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((400, 8)).astype(np.float32)
    f = write_fvecs(tmp_path / "c.fvecs", x)
    q.ok("import", "c", f, "--create", "--index", "hnsw")
    q.ok("delete", "c", "--ids", ",".join(str(i) for i in range(50)))
    assert q.json("info", "c")["stats"]["tombstones"] == 50
    out = q.ok("compact", "c").stdout.strip()
    assert out == "compacted 'c': 350 live records, tombstones 50 -> 0"
    info = q.json("info", "c")   # a new process: the compacted graph was checkpointed at close
    assert info["stats"]["tombstones"] == 0 and info["count"] == 350
    assert q.json("query", "c", "--vector-file", f, "--row", 123, "-k", 1)["ids"][0] == ["123"]
    q.fails(1, "compact", "nope")
    q.fails(2, "compact")


def test_persistence_across_invocations(q, tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    f = write_fvecs(tmp_path / "p.fvecs", x)
    q.ok("import", "p", f, "--create", "--metric", "cosine", "--batch", 64)
    first = q.json("query", "p", "--vector-file", f, "--rows", 5, "-k", 4)
    for _ in range(2):   # every invocation reopens the data directory
        assert q.json("query", "p", "--vector-file", f, "--rows", 5, "-k", 4) == first
    info = q.json("info", "p")
    assert info["count"] == 200 and info["metric"] == "cosine"


def test_serve_help_or_not_built(q):
    p = q.run("serve", "--help")
    assert "usage: quiver serve" in p.stdout
    if "built without the server" not in p.stdout:
        assert p.returncode == 0        # the server's own --help
        assert "--data" in p.stdout and "--port" in p.stdout
        return
    # without the server even --help exits 2, so scripts can test for the server with it
    assert p.returncode == 2
    p = q.fails(2, "serve")
    assert "not built" in p.stderr


# ----------------------------------------------------------------------------- real data

def test_fashion_mnist_first_2000_rows(q, tmp_path):
    assert FMNIST.exists(), f"{FMNIST} missing: run shared/data/prepare (scripts/test.sh does)"
    dim = 784
    row_bytes = 4 + 4 * dim
    part = tmp_path / "fm2000.fvecs"
    with open(FMNIST, "rb") as src:
        part.write_bytes(src.read(2000 * row_bytes))
    p = q.ok("import", "fm", part, "--create")
    assert p.stdout.startswith("imported 2000 records")
    res = q.json("query", "fm", "--vector-file", FMNIST, "-k", 3)
    assert res["ids"][0][0] == "0"
    assert res["distances"][0][0] == 0
    x = np.fromfile(part, dtype=np.float32).reshape(2000, dim + 1)[:, 1:]
    d = ((x - x[0]) ** 2).sum(axis=1)
    assert res["ids"][0] == [str(i) for i in np.argsort(d, kind="stable")[:3]]
    np.testing.assert_allclose(res["distances"][0], np.sort(d)[:3], rtol=1e-4)

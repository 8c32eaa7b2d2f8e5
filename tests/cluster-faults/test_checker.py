# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cluster-faults/test_checker.py -- the fault harness's checker on synthetic histories.

Every violation kind (lost write, resurrected delete, phantom value, read-your-writes,
divergent replicas) is planted in a small history and must be flagged; clean histories,
including ones whose unknown outcomes make several final states legal, must pass. Needs no
namespaces or servers. Run: /usr/bin/python3 -m pytest -q tests/cluster-faults
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checker import INF, Op, check, load_history  # noqa: E402


def W(i, c, t0, t1, kv, outcome="ok"):
    return Op(i, c, "upsert", t0, t1, outcome, writes=kv)


def A(i, c, t0, t1, kv, outcome="ok"):
    return Op(i, c, "add", t0, t1, outcome, writes=kv)


def D(i, c, t0, t1, keys, outcome="ok"):
    return Op(i, c, "delete", t0, t1, outcome, deletes=keys)


def G(i, c, t0, t1, read, outcome="ok"):
    return Op(i, c, "get", t0, t1, outcome, read=read)


def Q(i, c, t0, t1, read):
    return Op(i, c, "query", t0, t1, "ok", read=read)


def kinds(res):
    return {k: n for k, n in res["counts"].items() if n}


# -- clean histories -------------------------------------------------------------------------

def test_clean_sequential():
    ops = [A(1, 0, 0, 1, {"a": "v1", "b": "v2"}), W(2, 0, 2, 3, {"a": "v3"}),
           D(3, 0, 4, 5, ["b"]), G(4, 0, 6, 7, {"a": "v3", "b": None}),
           Q(5, 0, 8, 9, {"a": "v3"})]
    res = check(ops, {"n1": {"a": "v3"}, "n2": {"a": "v3"}})
    assert res["ok"], res["violations"]
    assert res["outcomes"] == {"ok": 5, "fail": 0, "unknown": 0}


def test_unknown_write_may_or_may_not_apply():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), W(2, 0, 2, None, {"a": "v2"}, "unknown"),
           A(3, 1, 0, None, {"b": "v3"}, "unknown")]
    for view in ({"a": "v1"}, {"a": "v2"}, {"a": "v2", "b": "v3"}):
        res = check(ops, {"n1": view})
        assert res["ok"], (view, res["violations"])


def test_unknown_write_may_apply_after_a_later_ack():
    # an unknown write's completion is +infinity: it may land after the client's next write
    ops = [W(1, 0, 0, None, {"a": "v1"}, "unknown"), W(2, 0, 5, 6, {"a": "v2"})]
    assert check(ops, {"n1": {"a": "v1"}})["ok"]
    assert check(ops, {"n1": {"a": "v2"}})["ok"]


def test_concurrent_writes_either_wins():
    ops = [W(1, 0, 0, 10, {"s": "x"}), W(2, 1, 5, 12, {"s": "y"}), D(3, 2, 6, 8, ["s"])]
    for view in ({"s": "x"}, {"s": "y"}, {}):
        assert check(ops, {"n1": view})["ok"], view


def test_failed_delete_leaves_the_record():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), D(2, 0, 2, 3, ["a"], "fail")]
    assert check(ops, {"n1": {"a": "v1"}})["ok"]


def test_ryw_sees_concurrent_later_write_of_other_client():
    ops = [W(1, 0, 0, 1, {"s": "x"}), W(2, 1, 2, 9, {"s": "y"}), G(3, 0, 3, 4, {"s": "y"})]
    assert check(ops, {"n1": {"s": "y"}})["ok"]


def test_jsonl_history_roundtrip(tmp_path):
    p = tmp_path / "h.jsonl"
    ev = [{"type": "invoke", "id": 1, "client": 0, "f": "add", "t": 0.0,
           "writes": {"a": "v1"}},
          {"type": "complete", "id": 1, "outcome": "ok", "t": 1.0},
          {"type": "invoke", "id": 2, "client": 0, "f": "upsert", "t": 2.0,
           "writes": {"a": "v2"}},  # never completed: unknown
          {"type": "invoke", "id": 3, "client": 1, "f": "get", "t": 2.5},
          {"type": "complete", "id": 3, "outcome": "ok", "t": 3.0, "read": {"a": "v1"}}]
    p.write_text("".join(json.dumps(e) + "\n" for e in ev))
    ops = load_history(str(p))
    assert [o.outcome for o in ops] == ["ok", "unknown", "ok"]
    assert ops[1].t1 == INF
    assert check(ops, {"n1": {"a": "v2"}})["ok"]
    assert check(ops, {"n1": {"a": "v1"}})["ok"]
    assert kinds(check(ops, {"n1": {}})) == {"lost": 1}


# -- each violation must be flagged ----------------------------------------------------------

def test_lost_acknowledged_add():
    ops = [A(1, 0, 0, 1, {"a": "v1", "b": "v2"})]
    res = check(ops, {"n1": {"a": "v1"}})
    assert kinds(res) == {"lost": 1}
    v = res["violations"][0]
    assert v["key"] == "b" and v["write"]["value"] == "v2"


def test_lost_acknowledged_overwrite_is_stale_value():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), W(2, 0, 2, 3, {"a": "v2"})]
    res = check(ops, {"n1": {"a": "v1"}})
    assert kinds(res) == {"lost": 1}
    assert res["violations"][0]["write"]["value"] == "v2"


def test_lost_write_on_one_replica_only_is_also_divergence():
    ops = [A(1, 0, 0, 1, {"a": "v1"})]
    res = check(ops, {"n1": {"a": "v1"}, "n2": {}, "n3": {"a": "v1"}})
    assert kinds(res) == {"lost": 1, "divergence": 1}
    assert res["violations"][0]["node"] == "n2"


def test_resurrected_after_acknowledged_delete():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), D(2, 0, 2, 3, ["a"])]
    res = check(ops, {"n1": {"a": "v1"}})
    assert kinds(res) == {"resurrected": 1}
    assert res["violations"][0]["delete_op"] == 2


def test_resurrection_by_unknown_write_is_legal_but_by_acked_older_is_not():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), D(2, 0, 2, 3, ["a"]),
           W(3, 1, 1.5, None, {"a": "v9"}, "unknown")]
    assert check(ops, {"n1": {"a": "v9"}})["ok"]
    assert kinds(check(ops, {"n1": {"a": "v1"}})) == {"resurrected": 1}


def test_phantom_value_never_written():
    ops = [A(1, 0, 0, 1, {"a": "v1"})]
    assert kinds(check(ops, {"n1": {"a": "v1", "z": "v7"}})) == {"phantom": 1}


def test_failed_write_visible_is_phantom():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), W(2, 0, 2, 3, {"a": "v2"}, "fail")]
    res = check(ops, {"n1": {"a": "v2"}})
    assert kinds(res) == {"phantom": 1}
    assert res["violations"][0]["failed_ops"] == [2]


def test_read_of_value_from_the_future_is_phantom():
    ops = [G(1, 1, 0, 1, {"a": "v1"}), A(2, 0, 2, 3, {"a": "v1"})]
    assert kinds(check(ops, {"n1": {"a": "v1"}})) == {"phantom": 1}


def test_query_with_corrupt_record_is_phantom():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), Q(2, 1, 2, 3, {"a": "CORRUPT:v1"})]
    assert kinds(check(ops, {"n1": {"a": "v1"}})) == {"phantom": 1}


def test_ryw_missing_own_write():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), G(2, 0, 2, 3, {"a": None})]
    res = check(ops, {"n1": {"a": "v1"}})
    assert kinds(res) == {"ryw": 1}
    assert res["violations"][0]["expected"]["value"] == "v1"


def test_ryw_stale_own_overwrite():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), W(2, 0, 2, 3, {"a": "v2"}), G(3, 0, 4, 5, {"a": "v1"})]
    assert kinds(check(ops, {"n1": {"a": "v2"}})) == {"ryw": 1}


def test_ryw_own_delete_still_visible():
    ops = [A(1, 0, 0, 1, {"a": "v1"}), D(2, 0, 2, 3, ["a"]), G(3, 0, 4, 5, {"a": "v1"})]
    assert kinds(check(ops, {"n1": {}})) == {"ryw": 1}


def test_other_clients_stale_read_is_not_ryw():
    # client 1 never wrote "a": a stale read by it is allowed under read-your-writes
    ops = [A(1, 0, 0, 1, {"a": "v1"}), W(2, 0, 2, 3, {"a": "v2"}), G(3, 1, 4, 5, {"a": "v1"})]
    assert check(ops, {"n1": {"a": "v2"}})["ok"]


def test_divergent_replicas():
    ops = [A(1, 0, 0, None, {"a": "v1"}, "unknown")]
    # both states are legal alone, but nodes must agree
    res = check(ops, {"n1": {"a": "v1"}, "n2": {}})
    assert kinds(res) == {"divergence": 1}
    assert res["violations"][0]["seen"] == {"n1": "v1", "n2": None}


def test_no_view_is_an_error():
    import pytest
    with pytest.raises(ValueError):
        check([A(1, 0, 0, 1, {"a": "v1"})], {})


# -- the workload's pure helpers -------------------------------------------------------------

def test_token_merge_keeps_every_shard():
    from workload import merge_token
    assert merge_token(None, "0:5") == "0:5"
    assert merge_token("0:5,2:3", "1:7,0:4") == "0:5,1:7,2:3"
    assert merge_token("x", "opaque") == "opaque"


def test_decode_record_flags_disagreeing_copies():
    from workload import decode_record, embedding
    v = "c1.7.c1-3"
    assert decode_record("c1-3", v, {"v": v}, embedding(v)) == v
    assert decode_record("c1-3", v, {"v": "c1.8.c1-3"}, embedding(v)).startswith("CORRUPT:")
    assert decode_record("c1-3", v, {"v": v}, embedding("other")).startswith("CORRUPT:")
    assert decode_record("c1-3", v, {"v": v}, None).startswith("CORRUPT:")

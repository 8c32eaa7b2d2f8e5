# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cluster-faults/checker.py -- a Jepsen-style checker for the fault harness's histories.

A history is a list of operations, each with its client, invocation time t0, completion
time t1 and outcome: "ok" (acknowledged), "fail" (definitely not applied: refused
connection, a 4xx) or "unknown" (a timeout, a reset, a 5xx: it may or may not have taken
effect, now or at any later time, so its completion counts as +infinity). Writes carry
{key: value} (add, upsert; every value is unique in the whole history) and deletes a list
of keys; reads (get, query) carry what they saw, {key: value or None}.

What is checked:

- **lost**: the final state of a key (read from every node after healing) must be the
  effect of an operation that no acknowledged operation follows in real time (Y follows X
  when Y was invoked after X completed). An absent key whose last acknowledged operation
  was a write, or a value an acknowledged later write replaced, is a lost write.
- **resurrected**: a final value written by an operation that an acknowledged delete
  follows.
- **phantom**: a value (final or read) that no operation which did not fail wrote to that
  key, or that was written only after the read completed; a corrupt record (document,
  metadata and embedding disagreeing) is reported by the workload as a phantom value too.
- **ryw** (read-your-writes, per client): a get by client c of key k, after c's last
  acknowledged operation A on k, must see A's effect or the effect of an operation that
  may be ordered after A (one that did not fail, completed after A was invoked and was
  invoked before the read completed).
- **divergence**: every node's view of the collection after healing must be the same.

check() returns {"counts": {kind: n}, "violations": [{"kind", "key", ...}], "ok": bool}.
"""
import bisect
import json
import math

INF = math.inf
KINDS = ("lost", "resurrected", "phantom", "ryw", "divergence")


class Op:
    __slots__ = ("id", "client", "f", "t0", "t1", "outcome", "writes", "deletes", "read",
                 "node", "error")

    def __init__(self, id, client, f, t0, t1=None, outcome="unknown", writes=None,
                 deletes=None, read=None, node=None, error=None):
        self.id, self.client, self.f, self.t0 = id, client, f, t0
        self.outcome = outcome
        self.t1 = INF if (t1 is None or outcome == "unknown") else t1
        self.writes = writes or {}
        self.deletes = list(deletes or [])
        self.read = read or {}
        self.node, self.error = node, error

    def to_json(self):
        return {"id": self.id, "client": self.client, "f": self.f, "t0": self.t0,
                "t1": None if self.t1 == INF else self.t1, "outcome": self.outcome,
                "writes": self.writes, "deletes": self.deletes, "read": self.read,
                "node": self.node, "error": self.error}

    @classmethod
    def from_json(cls, d):
        return cls(d["id"], d["client"], d["f"], d["t0"], d.get("t1"), d["outcome"],
                   d.get("writes"), d.get("deletes"), d.get("read"), d.get("node"),
                   d.get("error"))


class Effect:
    """One operation's effect on one key: a write of value, or a delete (value None)."""
    __slots__ = ("op", "value")

    def __init__(self, op, value):
        self.op, self.value = op, value

    @property
    def is_delete(self):
        return self.value is None


INITIAL = Effect(Op(-1, None, "initial", -INF, -INF, "ok"), None)


def load_history(path):
    """Read a JSONL history: 'invoke' and 'complete' events paired by op id; an invocation
    without a completion is an unknown outcome."""
    ops = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            e = json.loads(line)
            if e["type"] == "invoke":
                ops[e["id"]] = Op(e["id"], e["client"], e["f"], e["t"], None, "unknown",
                                  e.get("writes"), e.get("deletes"), node=e.get("node"))
            elif e["type"] == "complete":
                o = ops[e["id"]]
                o.outcome = e["outcome"]
                o.t1 = INF if e["outcome"] == "unknown" else e["t"]
                o.read = e.get("read") or {}
                o.error = e.get("error")
    return sorted(ops.values(), key=lambda o: o.t0)


def effects_by_key(ops):
    ek = {}
    for o in ops:
        for k, v in o.writes.items():
            ek.setdefault(k, []).append(Effect(o, v))
        for k in o.deletes:
            ek.setdefault(k, []).append(Effect(o, None))
    return ek


class KeyIndex:
    """One key's effects, indexed so each question costs O(log n)."""

    def __init__(self, effs):
        self.effs = effs
        acked = [e.op.t0 for e in effs if e.op.outcome == "ok"]
        self.max_acked_t0 = max(acked) if acked else -INF
        self.by_value = {}
        for e in effs:
            if e.value is not None:
                self.by_value.setdefault(e.value, []).append(e)
        dels = sorted((e for e in effs if e.is_delete and e.op.outcome != "fail"),
                      key=lambda e: e.op.t0)
        self.del_t0 = [e.op.t0 for e in dels]
        self.del_maxt1 = []  # running maximum of t1 over deletes sorted by t0
        m = -INF
        for e in dels:
            m = max(m, e.op.t1)
            self.del_maxt1.append(m)

    def superseded(self, e):
        """Some acknowledged effect on the key follows e in real time."""
        return self.max_acked_t0 > e.op.t1

    def superseders(self, e):
        return [y for y in self.effs if y.op.outcome == "ok" and y.op.t0 > e.op.t1]

    def delete_between(self, after_t, before_t):
        """A delete that did not fail, completed after after_t, invoked before before_t."""
        n = bisect.bisect_left(self.del_t0, before_t)
        return n > 0 and self.del_maxt1[n - 1] > after_t


def _final_ok(ki, s):
    if s is None:
        if not ki.superseded(INITIAL):
            return True
        return ki.delete_between(ki.max_acked_t0, INF)
    return any(e.op.outcome != "fail" and not ki.superseded(e) for e in ki.by_value.get(s, []))


def check_final(ek, view, node, idx=None):
    """The final state one node shows, {key: value}, against the history."""
    idx = idx if idx is not None else {k: KeyIndex(v) for k, v in ek.items()}
    empty = KeyIndex([])
    out = []
    for k in sorted(set(ek) | set(view)):
        ki = idx.get(k, empty)
        s = view.get(k)
        if _final_ok(ki, s):
            continue
        effs = ki.effs
        if s is None:
            acked = [e for e in effs if e.op.outcome == "ok" and not e.is_delete]
            last = max(acked, key=lambda e: e.op.t1) if acked else None
            out.append({"kind": "lost", "key": k, "node": node, "seen": None,
                        "write": last and {"op": last.op.id, "value": last.value,
                                           "client": last.op.client}})
            continue
        writers = [e for e in ki.by_value.get(s, []) if e.op.outcome != "fail"]
        if not writers:
            failed = [e.op.id for e in ki.by_value.get(s, [])]
            out.append({"kind": "phantom", "key": k, "node": node, "seen": s,
                        "failed_ops": failed})
            continue
        sup = [y for w in writers for y in ki.superseders(w)]
        dels = [y for y in sup if y.is_delete]
        if dels:
            out.append({"kind": "resurrected", "key": k, "node": node, "seen": s,
                        "delete_op": dels[0].op.id, "write_op": writers[0].op.id})
        else:
            last = max(sup, key=lambda e: e.op.t1)
            out.append({"kind": "lost", "key": k, "node": node, "seen": s,
                        "write": {"op": last.op.id, "value": last.value,
                                  "client": last.op.client}})
    return out


def check_reads(ops, ek, idx=None):
    """Read-your-writes and phantom values for every successful get and query."""
    idx = idx if idx is not None else {k: KeyIndex(v) for k, v in ek.items()}
    empty = KeyIndex([])
    out = []
    # per (client, key): the client's acknowledged effects sorted by completion
    mine = {}
    for k, effs in ek.items():
        for e in effs:
            if e.op.outcome == "ok":
                mine.setdefault((e.op.client, k), []).append(e)
    mine_t1 = {}
    for ck, lst in mine.items():
        lst.sort(key=lambda e: e.op.t1)
        mine_t1[ck] = [e.op.t1 for e in lst]
    for r in ops:
        if r.f not in ("get", "query") or r.outcome != "ok":
            continue
        for k, s in r.read.items():
            ki = idx.get(k, empty)
            writers = [e for e in ki.by_value.get(s, []) if e.op.outcome != "fail"
                       and e.op.t0 < r.t1] if s is not None else []
            if s is not None and not writers:
                out.append({"kind": "phantom", "key": k, "seen": s, "read_op": r.id,
                            "client": r.client, "node": r.node})
                continue
            if r.f != "get":
                continue  # a query only shows what matched; absence proves nothing
            ts = mine_t1.get((r.client, k))
            if not ts:
                continue
            n = bisect.bisect_left(ts, r.t0)
            if n == 0:
                continue
            a = mine[(r.client, k)][n - 1]  # the client's last acknowledged op on k
            if s is None:
                ok = a.is_delete or ki.delete_between(a.op.t0, r.t1)
            else:
                ok = any(w is a or w.op.t1 > a.op.t0 for w in writers)
            if not ok:
                out.append({"kind": "ryw", "key": k, "seen": s, "read_op": r.id,
                            "client": r.client, "node": r.node,
                            "expected": {"op": a.op.id, "value": a.value}})
    return out


def check_convergence(views):
    names = sorted(views)
    out = []
    if len(names) < 2:
        return out
    keys = set()
    for v in views.values():
        keys |= set(v)
    for k in sorted(keys):
        seen = {n: views[n].get(k) for n in names}
        if len(set(json.dumps(x) for x in seen.values())) > 1:
            out.append({"kind": "divergence", "key": k, "seen": seen})
    return out


def check(ops, views):
    """ops: [Op]; views: {node: {key: value}} read after healing (at least one)."""
    if not views:
        raise ValueError("check: no final view (every node must be read after healing)")
    ek = effects_by_key(ops)
    idx = {k: KeyIndex(e) for k, e in ek.items()}
    v = []
    for node in sorted(views):
        v += check_final(ek, views[node], node, idx)
    v += check_reads(ops, ek, idx)
    v += check_convergence(views)
    counts = {k: 0 for k in KINDS}
    for x in v:
        counts[x["kind"]] += 1
    oc = {"ok": 0, "fail": 0, "unknown": 0}
    for o in ops:
        oc[o.outcome] += 1
    return {"counts": counts, "violations": v, "ok": not v, "ops": len(ops),
            "outcomes": oc, "keys": len(ek)}

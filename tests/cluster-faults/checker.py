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


def _superseders(e, effs):
    """The acknowledged effects on the same key that follow e in real time."""
    return [y for y in effs if y.op.outcome == "ok" and y.op.t0 > e.op.t1]


def _final_candidates(effs):
    cands = [e for e in effs + [INITIAL] if e.op.outcome != "fail"]
    return [e for e in cands if not _superseders(e, effs)]


def _matches(cands, value):
    if value is None:
        return any(c.is_delete for c in cands)
    return any(c.value == value for c in cands)


def check_final(ek, view, node):
    """The final state one node shows, {key: value}, against the history."""
    out = []
    for k in sorted(set(ek) | set(view)):
        effs = ek.get(k, [])
        s = view.get(k)
        if _matches(_final_candidates(effs), s):
            continue
        if s is None:
            acked = [e for e in effs if e.op.outcome == "ok" and not e.is_delete]
            last = max(acked, key=lambda e: e.op.t1) if acked else None
            out.append({"kind": "lost", "key": k, "node": node, "seen": None,
                        "write": last and {"op": last.op.id, "value": last.value,
                                           "client": last.op.client}})
            continue
        writers = [e for e in effs if e.value == s and e.op.outcome != "fail"]
        if not writers:
            failed = [e.op.id for e in effs if e.value == s]
            out.append({"kind": "phantom", "key": k, "node": node, "seen": s,
                        "failed_ops": failed})
            continue
        sup = [y for w in writers for y in _superseders(w, effs)]
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


def check_reads(ops, ek):
    """Read-your-writes and phantom values for every successful get and query."""
    out = []
    # per client, per key: the client's effects in program order
    mine = {}
    for k, effs in ek.items():
        for e in effs:
            mine.setdefault((e.op.client, k), []).append(e)
    for r in ops:
        if r.f not in ("get", "query") or r.outcome != "ok":
            continue
        for k, s in r.read.items():
            effs = ek.get(k, [])
            if s is not None:
                if not any(e.value == s and e.op.outcome != "fail" and e.op.t0 < r.t1
                           for e in effs):
                    out.append({"kind": "phantom", "key": k, "seen": s, "read_op": r.id,
                                "client": r.client, "node": r.node})
                    continue
            if r.f != "get":
                continue  # a query only shows what matched; absence proves nothing
            acked = [e for e in mine.get((r.client, k), [])
                     if e.op.outcome == "ok" and e.op.t1 < r.t0]
            if not acked:
                continue
            a = max(acked, key=lambda e: e.op.t1)
            valid = [a] + [x for x in effs if x is not a and x.op.outcome != "fail"
                           and x.op.t1 > a.op.t0 and x.op.t0 < r.t1]
            if not _matches(valid, s):
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
    v = []
    for node in sorted(views):
        v += check_final(ek, views[node], node)
    v += check_reads(ops, ek)
    v += check_convergence(views)
    counts = {k: 0 for k in KINDS}
    for x in v:
        counts[x["kind"]] += 1
    oc = {"ok": 0, "fail": 0, "unknown": 0}
    for o in ops:
        oc[o.outcome] += 1
    return {"counts": counts, "violations": v, "ok": not v, "ops": len(ops),
            "outcomes": oc, "keys": len(ek)}

#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cluster-faults/bench_cluster.py -- issue 17's two measurements, on this machine.

  throughput  query throughput of one plain node (`quiver serve`, no --cluster) and of a
              3-node cluster on the same collection under the same client load; every quiver
              node runs in its own network namespace and its own cpu cgroup with a fixed
              quota (--cpu, cores per node), the 3 NATS servers share one cgroup of their own
              (--nats-cpu); these and the query clients' cgroup have a high cpu.shares so
              other load on the machine does not take their share. Runs alternate (plain, cluster, plain, cluster...) so the noise of
              a shared machine hits both; the median of each is reported, with each node's
              CPU use and throttling (cgroup cpu.stat) to show the quota bound it.
  memory      a collection larger than one node's memory limit (memory cgroup, --mem per
              node): a plain node under the limit loads it until the limit stops it; a
              3-node cluster whose nodes each hold a part (--shards, --replicas) under the same
              per-node limit takes it all and answers queries; peak memory of every node is
              reported (memory.max_usage_in_bytes).

Usage (root): python3 tests/cluster-faults/bench_cluster.py throughput|memory [options]
Results go to stdout and --out (JSON).
"""
import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import netns  # noqa: E402
import workload  # noqa: E402

BASE = workload.BASE
# cpu.shares of every cgroup the benchmark makes (nodes, NATS, clients): the machine is shared,
# and a cgroup with a high weight gets its quota even when other work wants the cores (the
# quota caps it; the weight keeps it from getting less)
SHARES = 16384


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def vectors(n, dim, seed):
    rng = random.Random(seed)
    return [[round(rng.uniform(-1, 1), 4) for _ in range(dim)] for _ in range(n)]


class Setup:
    """One topology (plain single node, or NATS + N cluster nodes) with cgroups."""

    def __init__(self, a, plain, tag):
        self.a, self.plain, self.tag = a, plain, tag
        self.work = tempfile.mkdtemp(prefix=f"bench-{tag}-", dir=a.workdir)
        self.cgs = []
        n = 1 if plain else a.nodes
        self.node_cpu, self.node_mem = [], []
        for i in range(n):
            c = netns.Cgroup("cpu", f"qvb-{tag}-q{i + 1}")
            c.set("cpu.cfs_period_us", 100000)
            c.set("cpu.cfs_quota_us", int(a.cpu * 100000))
            c.set("cpu.shares", SHARES)
            self.node_cpu.append(c)
            paths = [c.path]
            if a.mem:
                m = netns.Cgroup("memory", f"qvb-{tag}-q{i + 1}", netns.memory_cgroup_parent())
                m.set("memory.limit_in_bytes", a.mem)
                self.node_mem.append(m)
                paths.append(m.path)
            self.cgs.append(paths)
        self.nats_cpu = netns.Cgroup("cpu", f"qvb-{tag}-nats")
        self.nats_cpu.set("cpu.cfs_period_us", 100000)
        self.nats_cpu.set("cpu.cfs_quota_us", int(a.nats_cpu * 100000))
        self.nats_cpu.set("cpu.shares", SHARES)
        # the query clients: no cap, the same priority
        self.clients_cpu = netns.Cgroup("cpu", f"qvb-{tag}-clients")
        self.clients_cpu.set("cpu.shares", SHARES)
        args = argparse.Namespace(
            single=plain, nodes=n, net=a.net, quiver=a.quiver, nats_server="nats-server",
            node_args=a.node_args, node_cgroups=lambda i: self.cgs[i],
            nats_cgroups=lambda i: [self.nats_cpu.path])
        self.cl = harness.Cluster(args, self.work)

    def up(self):
        self.cl.up()
        return self.cl.addrs()

    def down(self):
        self.cl.down()
        for c in self.node_cpu + self.node_mem + [self.nats_cpu, self.clients_cpu]:
            c.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def cpu_stats(self):
        out = []
        for c in self.node_cpu:
            st = dict(line.split() for line in c.get("cpu.stat").splitlines())
            out.append({k: int(v) for k, v in st.items()})
        return out


def load(addrs, coll, data, batch, threads=2, token_hdr=True):
    """Upsert every vector (ids v<i>) through the nodes, a few threads; returns seconds."""
    t0 = time.monotonic()
    chunks = [(i, data[i:i + batch]) for i in range(0, len(data), batch)]
    errors = []
    acked = [0]

    def worker(w):
        h = [workload.Http(a, 120) for a in addrs]
        for j in range(w, len(chunks), threads):
            i, vs = chunks[j]
            body = {"ids": [f"v{i + k}" for k in range(len(vs))], "embeddings": vs,
                    "metadatas": [{"g": (i + k) % 10} for k in range(len(vs))]}
            for attempt in range(5):
                try:
                    h[j % len(h)].call("POST", f"{BASE}/collections/{coll}/upsert", body)
                    acked[0] += len(vs)
                    break
                except workload.Outcome as e:
                    if attempt == 4:
                        errors.append(e.error)
                        return
                    time.sleep(1)

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"load failed after {acked[0]} records acknowledged: {errors[0]}")
    return time.monotonic() - t0


def _query_proc(addr, coll, queries, k, t_start, t_end, q, cgroup):
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
    h = workload.Http(addr, 30)
    n, lat, err, i = 0, [], 0, 0
    while time.time() < t_start:
        time.sleep(0.001)
    while True:
        t = time.time()
        if t >= t_end:
            break
        body = {"query_embeddings": [queries[i % len(queries)]], "n_results": k,
                "include": ["distances"]}
        i += 1
        try:
            h.call("POST", f"{BASE}/collections/{coll}/query", body)
            n += 1
            lat.append(time.time() - t)
        except workload.Outcome:
            err += 1
    q.put((n, err, lat))


def drive(addrs, coll, queries, clients, seconds, cgroup, k=10, warmup=2.0):
    """Closed-loop query clients (processes), client c on node c % len(addrs)."""
    q = mp.Queue()
    t_start = time.time() + warmup
    ps = [mp.Process(target=_query_proc, args=(addrs[c % len(addrs)], coll, queries, k,
                                                t_start, t_start + seconds, q, cgroup))
          for c in range(clients)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    n = sum(r[0] for r in res)
    lat = sorted(x for r in res for x in r[2])
    return {"qps": n / seconds, "queries": n, "errors": sum(r[1] for r in res),
            "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else None}


def create(addrs, a, plain):
    extra = json.loads(a.create_extra) if (a.create_extra and not plain) else {}
    cfg = {"hnsw": {"space": "l2"}}
    if a.index != "hnsw":
        cfg["index"] = a.index
    body = {"configuration": cfg}
    body.update(extra)
    if "configuration" in extra:
        body["configuration"] = dict(cfg, **extra["configuration"])
    return workload.create_collection(addrs, "bench", extra=body)


def throughput(a):
    data = vectors(a.n, a.dim, 1)
    queries = vectors(200, a.dim, 2)
    runs = {"plain": [], "cluster": []}
    order = ["plain", "cluster"] * a.rounds
    for r, mode in enumerate(order):
        plain = mode == "plain"
        s = Setup(a, plain, f"{mode}{r}")
        try:
            addrs = s.up()
            coll = create(addrs, a, plain)
            secs = load(addrs, coll, data, a.batch)
            before, cpu0 = s.cpu_stats(), proc_cpu(s)
            res = drive(addrs, coll, queries, a.clients, a.seconds, s.clients_cpu.path)
            after = s.cpu_stats()
            res["load_s"] = round(secs, 1)
            res["node_cpu_s"] = [round(y - x, 2) for x, y in zip(cpu0, proc_cpu(s))]
            res["throttled_periods"] = [y["nr_throttled"] - x["nr_throttled"]
                                        for x, y in zip(before, after)]
            res["periods"] = [y["nr_periods"] - x["nr_periods"] for x, y in zip(before, after)]
            log(f"{mode} round {r // 2 + 1}: {res['qps']:.0f} q/s, p50 {res['p50_ms']:.1f} ms, "
                f"errors {res['errors']}, throttled {res['throttled_periods']}/{res['periods']}"
                f" periods, load {res['load_s']} s")
            runs[mode].append(res)
        finally:
            s.down()
    med = {m: statistics.median(x["qps"] for x in v) for m, v in runs.items()}
    out = {"what": "throughput", "n": a.n, "dim": a.dim, "index": a.index,
           "cpu_per_node": a.cpu, "nats_cpu": a.nats_cpu, "clients": a.clients,
           "seconds": a.seconds, "runs": runs, "median_qps": med,
           "ratio": med["cluster"] / med["plain"] if med["plain"] else None,
           "create_extra": a.create_extra}
    log(f"median q/s: plain {med['plain']:.0f}, cluster {med['cluster']:.0f}, "
        f"ratio {out['ratio']:.2f}")
    return out


def proc_cpu(s):
    """CPU seconds (user + system) each quiver node has used so far."""
    out = []
    tck = os.sysconf("SC_CLK_TCK")
    for p in s.cl.qv:
        with open(f"/proc/{p.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out.append((int(fields[11]) + int(fields[12])) / tck)
    return out


def memory(a):
    if not a.mem:
        raise SystemExit("memory: --mem BYTES (per node) is required")
    data = vectors(a.n, a.dim, 1)
    out = {"what": "memory", "n": a.n, "dim": a.dim, "index": a.index, "mem_per_node": a.mem,
           "raw_vector_bytes": a.n * a.dim * 4, "create_extra": a.create_extra}
    for mode in ("plain", "cluster"):
        plain = mode == "plain"
        s = Setup(a, plain, f"mem-{mode}")
        try:
            addrs = s.up()
            coll = create(addrs, a, plain)
            res = {}
            try:
                res["load_s"] = round(load(addrs, coll, data, a.batch), 1)
                res["loaded"] = True
            except RuntimeError as e:
                res["loaded"], res["error"] = False, str(e)[:300]
            res["alive"] = [p.alive() for p in s.cl.qv]
            res["oom_killed"] = [m.get("memory.oom_control").split("oom_kill ")[-1]
                                 if "oom_kill" in m.get("memory.oom_control") else None
                                 for m in s.node_mem]
            res["max_usage"] = [int(m.get("memory.max_usage_in_bytes")) for m in s.node_mem]
            res["failcnt"] = [int(m.get("memory.failcnt")) for m in s.node_mem]
            live = [ad for ad, p in zip(addrs, s.cl.qv) if p.alive()]
            try:
                if not live:
                    raise workload.Outcome("fail", "no node alive")
                h = workload.Http(live[0], 60)
                _, cnt, _ = h.call("GET", f"{BASE}/collections/{coll}/count")
                res["count"] = cnt
                qs = vectors(20, a.dim, 2)
                ok = 0
                for qv in qs:
                    _, js, _ = h.call("POST", f"{BASE}/collections/{coll}/query",
                                      {"query_embeddings": [qv], "n_results": 10,
                                       "include": ["distances"]})
                    ok += len(js["ids"][0]) == 10
                res["queries_with_10_results"] = ok
            except workload.Outcome as e:
                res["count_error"] = e.error[:300]
            if not plain and live:
                try:
                    _, st, _ = workload.Http(live[0], 30).call("GET", "/api/v2/cluster")
                    res["cluster_status"] = st
                    res["records_per_node"] = local_counts(st, coll)
                except workload.Outcome as e:
                    res["cluster_status_error"] = e.error[:300]
            if not plain:
                # what each node holds on its disk: its replicas' records, read offline
                try:
                    loc = harness.local_replicas(s.cl, coll, argparse.Namespace(
                        python_build=a.python_build))
                    res["local_records"] = {n: {str(k): len(r) for k, r in reps.items()}
                                            for n, reps in loc.items()}
                except Exception as e:  # a node killed by the OOM killer, say
                    res["local_records_error"] = f"{type(e).__name__}: {e}"[:300]
            log(f"{mode}: {json.dumps({k: v for k, v in res.items() if k != 'cluster_status'})}")
            out[mode] = res
        finally:
            s.down()
    return out


def local_counts(st, coll):
    """Shards each node holds, from the status document: {node: [shard, ...]}."""
    out = {}
    for c in st.get("collections", []):
        if c.get("id") != coll:
            continue
        for sh in c.get("shard", []):
            for r in sh.get("replicas", []):
                out.setdefault(r["node"], []).append(sh["shard"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["throughput", "memory"])
    ap.add_argument("--n", type=int, default=20000, help="vectors in the collection")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--index", default="hnsw")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--cpu", type=float, default=0.25, help="cores per quiver node (quota)")
    ap.add_argument("--nats-cpu", type=float, default=0.5, help="cores for the 3 NATS servers")
    ap.add_argument("--mem", type=int, default=0, help="memory limit per quiver node (bytes)")
    ap.add_argument("--clients", type=int, default=6, help="closed-loop query processes")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--create-extra", default="",
                    help="JSON merged into the cluster's create body (shards, replicas)")
    ap.add_argument("--quiver", default=os.environ.get(
        "QUIVER_BIN", os.path.join(harness.ROOT, "build", "quiver")))
    ap.add_argument("--node-args", default=harness.DEFAULT_NODE_ARGS)
    ap.add_argument("--python-build", default=os.environ.get(
        "QUIVER_BUILD", os.path.join(harness.ROOT, "build", "python")))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--net", type=int, default=9, help="network slot (netns.Net)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    netns.require_root()
    a.workdir = a.workdir or tempfile.mkdtemp(prefix="quiver-bench-cluster-")
    res = throughput(a) if a.what == "throughput" else memory(a)
    res["cmd"] = " ".join(sys.argv)
    res["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cluster-faults/harness.py -- quiver under kills and partitions, checked like Jepsen.

Starts 3 NATS servers (a JetStream cluster) and 3 quiver nodes (`quiver serve --cluster`),
each in a network namespace of its own on one bridge (netns.py), runs the mixed Chroma
workload (workload.py) from the host while a nemesis injects faults, heals everything,
reads every node's view and checks the history (checker.py). Fault kinds:

  kill-node      kill -9 one quiver node, wait, restart it
  kill-nats      kill -9 one NATS server, wait, restart it
  kill-majority  kill -9 two of the three machines (their NATS server and quiver node), restart
  isolate        cut one namespace (a quiver node or a NATS server) off every other one
  split          split the machines 2/1 (NATS server and quiver node of a machine together)

--single runs one plain `quiver serve` (no --cluster) instead, with the NATS cluster still
in its namespaces for the nemesis (kill-node restarts quiver; isolate cuts quiver off the
clients): it checks the workload, checker and scaffolding, and single-node durability.

Usage (root): scripts/cluster-faults.sh [--fast] [--single] [--faults N] [--out DIR] ...
Exit status 0 when the checker found no violation, 1 when it did, 2 on a harness error.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checker  # noqa: E402
import netns  # noqa: E402
import workload  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
NATS_PORT, NATS_ROUTE, NATS_MON, QV_PORT = 4222, 6222, 8222, 8000
KINDS = ("kill-node", "kill-nats", "kill-majority", "isolate", "split")
DEFAULT_NODE_ARGS = ("serve --data {data} --host {ip} --port {port} --log-level warn "
                     "--cluster {nats} --node-id {name}")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


class Cluster:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.net = netns.Net(getattr(args, "net", 0))
        self.nats, self.qv = [], []  # Proc
        self.nats_ip, self.qv_ip = [], []
        self.single = args.single
        self.supervisor_restarts = 0

    # -- set-up ---------------------------------------------------------------------------
    def up(self):
        self.net.up()
        for i in range(3):
            self.nats_ip.append(self.net.add(f"n{i + 1}", 11 + i))
        nodes = 1 if self.single else getattr(self.args, "nodes", 3)
        for i in range(nodes):
            self.qv_ip.append(self.net.add(f"q{i + 1}", 21 + i))
        node_cg = getattr(self.args, "node_cgroups", None) or (lambda i: [])
        nats_cg = getattr(self.args, "nats_cgroups", None) or (lambda i: [])
        for i in range(3):
            d = os.path.join(self.work, f"n{i + 1}")
            os.makedirs(os.path.join(d, "js"))
            routes = ", ".join(f"nats-route://{ip}:{NATS_ROUTE}"
                               for j, ip in enumerate(self.nats_ip) if j != i)
            conf = os.path.join(d, "nats.conf")
            with open(conf, "w") as f:
                f.write(f"server_name: n{i + 1}\nlisten: {self.nats_ip[i]}:{NATS_PORT}\n"
                        f"http: {self.nats_ip[i]}:{NATS_MON}\n"
                        f"jetstream {{ store_dir: \"{d}/js\" }}\n"
                        f"cluster {{ name: qvf, listen: {self.nats_ip[i]}:{NATS_ROUTE}, "
                        f"routes: [{routes}] }}\n")
            self.nats.append(netns.Proc(self.net, f"n{i + 1}",
                                        [self.args.nats_server, "-c", conf],
                                        os.path.join(d, "nats.log"), nats_cg(i)))
        nats_urls = ",".join(f"nats://{ip}:{NATS_PORT}" for ip in self.nats_ip)
        for i, ip in enumerate(self.qv_ip):
            d = os.path.join(self.work, f"q{i + 1}")
            os.makedirs(os.path.join(d, "data"))
            tmpl = self.args.node_args if not self.single else \
                "serve --data {data} --host {ip} --port {port} --log-level warn"
            argv = [self.args.quiver] + tmpl.format(
                data=os.path.join(d, "data"), ip=ip, port=QV_PORT, nats=nats_urls,
                name=f"q{i + 1}").split()
            self.qv.append(netns.Proc(self.net, f"q{i + 1}", argv,
                                      os.path.join(d, "quiver.log"), node_cg(i)))
        for p in self.nats:
            p.start()
        self.wait_nats()
        for p in self.qv:
            p.start()
        self.wait_quiver()

    def addrs(self):
        return [(ip, QV_PORT) for ip in self.qv_ip]

    def nats_get(self, i, path):
        try:
            c = http.client.HTTPConnection(self.nats_ip[i], NATS_MON, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            return json.loads(r.read()) if r.status == 200 else None
        except (OSError, ValueError, http.client.HTTPException):
            return None

    def nats_healthy(self, i):
        """Server up, routes to both others, a JetStream meta leader known. (Not /healthz:
        on 2.9 it also fails while any consumer is not current, which can last minutes
        after a fault without anything being wrong for quiver.)"""
        rz = self.nats_get(i, "/routez")
        jz = self.nats_get(i, "/jsz")
        return bool(rz and rz.get("num_routes", 0) >= 2 and jz
                    and (jz.get("meta_cluster") or {}).get("leader"))

    def wait_nats(self, deadline=60, strict=True):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for p in self.nats:
                if not p.alive():
                    raise RuntimeError("nats-server exited:\n" + p.tail())
            if all(self.nats_healthy(i) for i in range(3)):
                return
            time.sleep(0.3)
        msg = "NATS cluster not healthy after %ds:\n%s" % (
            deadline, "\n".join(p.tail(10) for p in self.nats))
        if strict:
            raise RuntimeError(msg)
        log("  warning: " + msg.splitlines()[0] + " (going on)")

    def wait_quiver(self, deadline=90):
        """Every quiver node answering; a node that exits (e.g. NATS not answering yet when
        it starts) is restarted after a second, as a service manager would."""
        end = time.monotonic() + deadline
        pending = list(range(len(self.qv)))
        while pending and time.monotonic() < end:
            for i in list(pending):
                p = self.qv[i]
                if not p.alive():
                    self.supervisor_restarts += 1
                    log(f"  q{i + 1} exited; restarting it: {p.tail(1).strip()}")
                    time.sleep(1)
                    p.start()
                    continue
                if workload.wait_http(self.addrs()[i], 0.5):
                    pending.remove(i)
            time.sleep(0.2)
        if pending:
            raise RuntimeError(f"quiver q{pending[0] + 1} not ready:\n"
                               + self.qv[pending[0]].tail())

    def down(self):
        for p in self.qv + self.nats:
            p.stop(10)
        self.net.down()

    # -- the nemesis ----------------------------------------------------------------------
    def machines(self):
        return list(range(3))

    def inject(self, kind, rng):
        """Apply one fault; returns (description, heal function)."""
        nq = len(self.qv)
        if kind == "kill-node":
            i = rng.randrange(nq)
            self.qv[i].kill9()
            return f"kill -9 quiver q{i + 1}", lambda: self.qv[i].start()
        if kind == "kill-nats":
            i = rng.randrange(3)
            self.nats[i].kill9()
            return f"kill -9 nats n{i + 1}", lambda: self.nats[i].start()
        if kind == "kill-majority":
            ms = rng.sample(self.machines(), 2)
            victims = [self.nats[m] for m in ms] + [self.qv[m] for m in ms if m < nq]
            for p in victims:
                p.kill9()

            def heal():
                for p in victims:
                    p.start()
            return f"kill -9 machines {[m + 1 for m in ms]} (nats and quiver)", heal
        every = [f"n{i + 1}" for i in range(3)] + [f"q{i + 1}" for i in range(nq)]
        if kind == "isolate":
            if self.single:
                # one quiver: cut it off the clients (the host side of the bridge)
                ns = self.net.nsname("q1")
                netns.sh("iptables", "-w", "-A", "INPUT", "-s", self.net.host_ip, "-j",
                         "DROP", ns=ns)
                netns.sh("iptables", "-w", "-A", "OUTPUT", "-d", self.net.host_ip, "-j",
                         "DROP", ns=ns)
                return "isolate q1 from the clients", self.net.heal
            who = rng.choice(every)
            self.net.partition([who], [x for x in every if x != who])
            return f"isolate {who}", self.net.heal
        if kind == "split":
            m = rng.randrange(3)
            minority = [f"n{m + 1}"] + ([f"q{m + 1}"] if m < nq else [])
            self.net.partition(minority, [x for x in every if x not in minority])
            return f"split: machine {m + 1} | the other two", self.net.heal
        raise ValueError(kind)

    def recover(self, deadline=120):
        """After a heal: every process up, NATS healthy, every quiver node answering."""
        for p in self.nats + self.qv:
            if not p.alive():
                log(f"  restarting a dead process: {' '.join(p.argv[:3])}\n{p.tail(5)}")
                p.start()
        self.wait_nats(deadline, strict=False)
        self.wait_quiver(deadline)


def run(args):
    netns.require_root()
    for b in (args.quiver, args.nats_server):
        if not shutil.which(b) and not os.path.exists(b):
            raise SystemExit(f"cluster-faults: {b} not found")
    out = args.out or tempfile.mkdtemp(prefix="quiver-faults-")
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="work-", dir=out)
    log(f"cluster-faults: output in {out}")
    rng = random.Random(args.seed)
    cl = Cluster(args, work)
    faults_log = open(os.path.join(out, "faults.jsonl"), "w")
    result = None
    try:
        cl.up()
        log(f"up: nats {cl.nats_ip}, quiver {cl.qv_ip}"
            + (" (single node, no --cluster)" if cl.single else ""))
        t_origin = time.monotonic()
        hist = workload.History(os.path.join(out, "history.jsonl"), t_origin)
        coll = workload.create_collection(cl.addrs(), "faults", token=args.token)
        stop = threading.Event()
        clients = [workload.Client(c, cl.addrs(), c % len(cl.qv_ip), coll, hist, stop,
                                   args.ops_per_client, args.seed * 1000 + c,
                                   timeout=args.timeout,
                                   session_headers=args.session_header,
                                   token=args.token, pace=args.pace)
                   for c in range(args.clients)]
        for c in clients:
            c.start()
        schedule = [k for k in args.kinds for _ in range(args.faults)]
        rng.shuffle(schedule)
        injected = {k: 0 for k in args.kinds}
        time.sleep(args.quiet)
        for n, kind in enumerate(schedule):
            t0 = hist.now()
            what, heal = cl.inject(kind, rng)
            log(f"fault {n + 1}/{len(schedule)} {kind}: {what}")
            time.sleep(args.hold)
            heal()
            t1 = hist.now()
            cl.recover()
            t2 = hist.now()
            injected[kind] += 1
            faults_log.write(json.dumps({"n": n + 1, "kind": kind, "what": what, "t_inject": t0,
                                         "t_heal": t1, "t_recovered": t2}) + "\n")
            faults_log.flush()
            time.sleep(args.quiet)
        log("nemesis done; letting the workload run on the healed cluster")
        time.sleep(args.quiet * 2)
        stop.set()
        for c in clients:
            c.join(args.timeout * 3 + 10)
        stuck = [c.name for c in clients if c.is_alive()]
        if stuck:
            raise RuntimeError(f"clients did not stop: {stuck}")
        hist.close()
        keys = set()
        with open(os.path.join(out, "history.jsonl")) as f:
            for line in f:
                e = json.loads(line)
                keys.update(e.get("writes") or ())
        views = final_views(cl, coll, args, keys)
        shard_div = []
        local_info = None
        if not cl.single:
            shards = cluster_shards(cl, coll)
            local = local_replicas(cl, coll, args)
            full, per_shard = replica_views(local, shards)
            views.update(full)
            for k, reps in sorted(per_shard.items()):
                for v in checker.check_convergence(reps):
                    v["shard"] = k
                    shard_div.append(v)
            local_info = {n: {str(k): len(r) for k, r in reps.items()}
                          for n, reps in local.items()}
            log(f"local replicas (records per shard): {local_info}")
        ops = checker.load_history(os.path.join(out, "history.jsonl"))
        result = checker.check(ops, views)
        for v in shard_div:  # replicas of one shard that differ on disk
            result["violations"].append(v)
            result["counts"]["divergence"] += 1
            result["ok"] = False
        result["local_replicas"] = local_info
        result["supervisor_restarts"] = cl.supervisor_restarts
        result["faults"] = injected
        result["mode"] = "single" if cl.single else "cluster"
        result["view_sizes"] = {n: len(v) for n, v in views.items()}
        with open(os.path.join(out, "views.json"), "w") as f:
            json.dump(views, f)
    finally:
        faults_log.close()
        if args.keep:
            log(f"--keep: processes left running; work dir {work}")
        else:
            cl.down()
            if not args.keep_data:
                shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    summary(result, out)
    return 0 if result["ok"] else 1


def final_views(cl, coll, args, keys):
    """Every quiver node's view after healing, through its API; re-read until they agree
    or the deadline. A cluster node is read with X-Quiver-Consistency: eventual, so it
    answers from its own replicas (it holds one of every shard when replicas = nodes)."""
    end = time.monotonic() + args.converge
    hdr = None if cl.single else {"X-Quiver-Consistency": "eventual"}
    views = {}
    while True:
        views = {}
        for i, a in enumerate(cl.addrs()):
            try:
                views[f"q{i + 1}"] = workload.read_keys(a, coll, keys, token=args.token,
                                                        headers=hdr)
            except workload.Outcome as e:
                log(f"  final read from q{i + 1} failed: {e.error}")
        if len(views) == len(cl.addrs()) and \
                len(set(json.dumps(v, sort_keys=True) for v in views.values())) == 1:
            return views
        if time.monotonic() > end:
            log("  views still differ at the convergence deadline")
            if not views:
                raise RuntimeError("no node answered the final read")
            return views
        time.sleep(1)


def local_replicas(cl, coll, args):
    """Stop every quiver node (SIGTERM) and read what each one holds on disk: the local
    collections of its shard replicas ("<tenant>/<database>/<uuid>-s<k>"), opened read-only
    with the Python module. Returns {node: {shard: {id: value}}}."""
    sys.path.insert(0, args.python_build)
    import quiver  # noqa: E402  (the build's module)
    for p in cl.qv:
        p.stop(30)
    out = {}
    pat = re.compile(r"(^|/)" + re.escape(coll) + r"-s(\d+)$")
    for i in range(len(cl.qv)):
        node = f"q{i + 1}"
        out[node] = {}
        db = quiver.Database(os.path.join(cl.work, node, "data"), read_only=True)
        try:
            for name in db.list_collections():
                m = pat.search(name if isinstance(name, str) else name.name)
                if not m:
                    continue
                col = db.get_collection(name if isinstance(name, str) else name.name)
                got = col.get(include=["documents", "metadatas", "embeddings"])
                recs = {}
                for j, rid in enumerate(got["ids"]):
                    emb = got["embeddings"][j]
                    recs[rid] = workload.decode_record(
                        rid, got["documents"][j], got["metadatas"][j],
                        [float(x) for x in emb] if emb is not None else None)
                out[node][int(m.group(2))] = recs
        finally:
            db.close()
    return out


def replica_views(local, shards):
    """Per-node views from the local replicas: a node holding a replica of every shard gives
    the union ('qN-local'); every replica of a shard gives 'qN-shardK' for the shard-wise
    comparison (convergence)."""
    full, per_shard = {}, {}
    for node, reps in local.items():
        if shards and len(reps) == shards:
            u = {}
            for recs in reps.values():
                u.update(recs)
            full[f"{node}-local"] = u
        for k, recs in reps.items():
            per_shard.setdefault(k, {})[node] = recs
    return full, per_shard


def cluster_shards(cl, coll):
    """The collection's shard count from the cluster status document (None if unknown)."""
    for a in cl.addrs():
        try:
            _, st, _ = workload.Http(a, 10).call("GET", "/api/v2/cluster")
        except workload.Outcome:
            continue
        for c in st.get("collections", []):
            if c.get("id") == coll:
                return c.get("shards")
    return None


def summary(res, out):
    c = res["counts"]
    log(f"mode {res['mode']}: {res['ops']} operations ({res['outcomes']}), {res['keys']} keys, "
        f"final views {res['view_sizes']}")
    log(f"faults injected: {res['faults']}; nodes restarted after exiting on their own: "
        f"{res.get('supervisor_restarts', 0)}")
    log(f"lost {c['lost']}, resurrected {c['resurrected']}, phantom {c['phantom']}, "
        f"read-your-writes {c['ryw']}, divergent keys {c['divergence']}")
    for v in res["violations"][:20]:
        log("  violation: " + json.dumps(v))
    log(("PASS" if res["ok"] else "FAIL") + f" (details: {out}/result.json)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast", action="store_true",
                    help="2 faults of each kind, shorter holds (a few minutes)")
    ap.add_argument("--single", action="store_true",
                    help="one plain quiver serve (no --cluster) under the same nemesis")
    ap.add_argument("--faults", type=int, default=None, help="faults of each kind (20)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds")
    ap.add_argument("--hold", type=float, default=None, help="seconds a fault lasts (4)")
    ap.add_argument("--quiet", type=float, default=None, help="seconds between faults (2)")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--ops-per-client", type=int, default=100000)
    ap.add_argument("--pace", type=float, default=0.0, help="sleep after each op (s)")
    ap.add_argument("--timeout", type=float, default=5.0, help="client request timeout (s)")
    ap.add_argument("--converge", type=float, default=120.0,
                    help="seconds the final views may take to agree")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--out", help="output directory (history, faults, result)")
    ap.add_argument("--quiver", default=os.environ.get(
        "QUIVER_BIN", os.path.join(ROOT, "build", "quiver")))
    ap.add_argument("--nats-server", default="nats-server")
    ap.add_argument("--node-args", default=DEFAULT_NODE_ARGS,
                    help="quiver's arguments for a cluster node ({data} {ip} {port} {nats} "
                         "{name} are filled in)")
    ap.add_argument("--session-header", action="append", default=None,
                    help="response header carrying the read-your-writes token")
    ap.add_argument("--token", default=None)
    ap.add_argument("--python-build", default=os.environ.get(
        "QUIVER_BUILD", os.path.join(ROOT, "build", "python")),
        help="directory of the quiver Python module (reads the replicas on disk)")
    ap.add_argument("--net", type=int, default=0, choices=range(100), metavar="0..99",
                    help="network slot: namespaces qvfN-*, bridge qvfbrN, 10.77.N.0/24")
    ap.add_argument("--keep", action="store_true", help="leave everything running")
    ap.add_argument("--keep-data", action="store_true", help="keep the data directories")
    a = ap.parse_args(argv)
    a.kinds = [k for k in a.kinds.split(",") if k]
    for k in a.kinds:
        if k not in KINDS:
            ap.error(f"--kinds: unknown fault kind {k!r} (known: {', '.join(KINDS)})")
    if a.faults is None:
        a.faults = 2 if a.fast else 20
    if a.hold is None:
        a.hold = 3.0 if a.fast else 4.0
    if a.quiet is None:
        a.quiet = 1.5 if a.fast else 2.0
    if a.session_header is None:
        a.session_header = ["X-Quiver-Token"]
    a.seed = a.seed
    log(f"seed {a.seed}, {a.faults} fault(s) of each kind {a.kinds}, hold {a.hold}s")
    try:
        return run(a)
    except (RuntimeError, OSError) as e:
        log(f"harness error: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())

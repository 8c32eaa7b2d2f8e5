# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""
tests/cluster-faults/netns.py -- the fault harness's machines: network namespaces on one host.

Every process (a NATS server, a quiver node) runs in a network namespace of its own, joined
to a Linux bridge on the host by a veth pair (loopback and veth only; nothing leaves the
machine). The host end of the bridge (10.77.<slot>.254) is where the workload's clients and the
checker sit, so a partition between namespaces never cuts the clients off unless asked to.

Partitions are iptables DROP rules inside the namespaces (both INPUT and OUTPUT, so a cut is
symmetric); healing flushes them. Processes are started with `ip netns exec`, which execs
the command in place, so the Popen pid is the server itself and kill -9 hits it directly.

Needs root, iproute2 and iptables (scripts/install-deps.sh --cluster-faults).
"""
import os
import shutil
import signal
import subprocess
import time



def sh(*args, check=True, ns=None, quiet=False):
    """Run a command (in namespace ns if given); returns CompletedProcess."""
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def require_root():
    if os.geteuid() != 0:
        raise SystemExit("cluster-faults: needs root (network namespaces, iptables, cgroups)")
    for tool in ("ip", "iptables"):
        if not shutil.which(tool):
            raise SystemExit(f"cluster-faults: {tool} not found "
                             "(run scripts/install-deps.sh --cluster-faults)")


class Net:
    """A bridge and a set of named namespaces, each with one address on the bridge."""

    def __init__(self, slot=0):
        # slot N (0..99): namespaces qvfN-*, bridge qvfbrN, subnet 10.77.N.0/24, so runs
        # with different slots can coexist on one machine
        self.prefix = f"qvf{slot}"
        self.bridge = f"qvfbr{slot}"
        self.subnet = f"10.77.{slot}"
        self.host_ip = self.subnet + ".254"
        self.ns = {}  # name -> ip
        self.cut = set()  # frozenset({a, b}) pairs currently partitioned

    def nsname(self, name):
        return f"{self.prefix}-{name}"

    def up(self):
        self.down()  # leftovers of a crashed run
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", self.host_ip + "/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        # a host with br_netfilter loaded would run bridged frames through the host's
        # iptables; keep the bridge a plain switch
        p = "/proc/sys/net/bridge/bridge-nf-call-iptables"
        if os.path.exists(p):
            with open(p, "w") as f:
                f.write("0\n")

    def add(self, name, ip_last):
        ns, ip = self.nsname(name), f"{self.subnet}.{ip_last}"
        host_if = f"{self.prefix}{name}"[:15]
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", host_if, "master", self.bridge)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "addr", "add", ip + "/24", "dev", "eth0", ns=ns)
        sh("ip", "link", "set", "eth0", "up", ns=ns)
        self.ns[name] = ip
        return ip

    def down(self):
        r = sh("ip", "netns", "list", check=False)
        for line in r.stdout.splitlines():
            n = line.split()[0] if line.split() else ""
            if n.startswith(self.prefix + "-"):
                sh("ip", "netns", "del", n, check=False)
        sh("ip", "link", "del", self.bridge, check=False, quiet=True)
        self.ns.clear()
        self.cut.clear()

    # -- partitions ---------------------------------------------------------------------
    def partition(self, side_a, side_b):
        """Drop every packet between the namespaces of side_a and those of side_b."""
        for a in side_a:
            for b in side_b:
                if a == b or frozenset((a, b)) in self.cut:
                    continue
                for x, y in ((a, b), (b, a)):
                    ns, peer = self.nsname(x), self.ns[y]
                    sh("iptables", "-w", "-A", "INPUT", "-s", peer, "-j", "DROP", ns=ns)
                    sh("iptables", "-w", "-A", "OUTPUT", "-d", peer, "-j", "DROP", ns=ns)
                self.cut.add(frozenset((a, b)))

    def heal(self):
        for name in self.ns:
            sh("iptables", "-w", "-F", ns=self.nsname(name))
        self.cut.clear()

    def reachable(self, a, b):
        return frozenset((a, b)) not in self.cut


class Proc:
    """A long-running server in a namespace, restartable, with its log in a file."""

    def __init__(self, net, ns_name, argv, log_path, cgroups=(), env=None):
        self.net, self.ns_name, self.argv = net, ns_name, argv
        self.log_path, self.cgroups, self.env = log_path, cgroups, env
        self.p = None
        self.starts = 0

    def start(self):
        log = open(self.log_path, "a")
        log.write(f"\n--- start {self.starts} at {time.time():.3f}: {' '.join(self.argv)}\n")
        log.flush()
        cg = list(self.cgroups)

        def pre():
            os.setsid()
            for c in cg:  # join the cgroups before exec, so every thread is inside
                with open(os.path.join(c, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))

        e = dict(os.environ)
        e.update(self.env or {})
        self.p = subprocess.Popen(["ip", "netns", "exec", self.net.nsname(self.ns_name)]
                                  + self.argv, stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=pre, env=e)
        log.close()
        self.starts += 1

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill9(self):
        if self.alive():
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait()

    def stop(self, timeout=20):
        if not self.alive():
            return
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Cgroup:
    """A cgroup v1 directory under one controller (cpu or memory); removed by close()."""

    def __init__(self, controller, name, parent=None):
        base = parent or f"/sys/fs/cgroup/{controller}"
        if not os.path.isdir(base):
            raise RuntimeError(f"cgroup v1 controller {controller} not mounted at {base}")
        self.path = os.path.join(base, name)
        if os.path.isdir(self.path):
            self._kill_members()
            os.rmdir(self.path)
        os.mkdir(self.path)

    def set(self, key, value):
        with open(os.path.join(self.path, key), "w") as f:
            f.write(str(value))

    def get(self, key):
        with open(os.path.join(self.path, key)) as f:
            return f.read().strip()

    def _kill_members(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                pids = [int(x) for x in f.read().split()]
        except OSError:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self):
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                self._kill_members()
                time.sleep(0.1)


def memory_cgroup_parent():
    """The memory cgroup this process lives in (cgroup v1), to nest limits under it."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if "memory" in ctrls.split(","):
                return "/sys/fs/cgroup/memory" + path
    return "/sys/fs/cgroup/memory"

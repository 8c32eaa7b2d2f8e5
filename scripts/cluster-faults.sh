#!/bin/sh
# quiver's fault harness (issue 17): 3 NATS servers and 3 quiver cluster nodes, each in a
# network namespace of its own, under a mixed Chroma workload while kill -9s (a node, a NATS
# server, a majority) and partitions (one isolated, a 2/1 split) are injected; a Jepsen-style
# checker then verifies no lost acknowledged write, no resurrected delete, read-your-writes
# and converged replicas. Needs root. Docs: docs/CLUSTER-FAULTS.md.
#
#   scripts/cluster-faults.sh            the full run: 20 faults of each of the 5 kinds
#   scripts/cluster-faults.sh --fast     2 of each kind, shorter holds
#   scripts/cluster-faults.sh --single   a plain single-node quiver serve under the nemesis
#   scripts/cluster-faults.sh --help     every option
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/install-deps.sh" --cluster-faults >/dev/null
if [ ! -x "$ROOT/build/quiver" ] && [ -z "${QUIVER_BIN:-}" ]; then
  cmake -S "$ROOT" -B "$ROOT/build" >/dev/null && cmake --build "$ROOT/build" -j2 >/dev/null
fi
exec /usr/bin/python3 "$ROOT/tests/cluster-faults/harness.py" "$@"

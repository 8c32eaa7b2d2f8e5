#!/bin/bash
# cluster-up.sh DIR -- a 3-server NATS JetStream cluster and 3 quiver nodes on this machine
# (loopback only), with every file under DIR:
#   DIR/nats{1,2,3}/   JetStream storage, DIR/nats{1,2,3}.conf, DIR/nats{1,2,3}.log
#   DIR/node{1,2,3}/   the quiver data directories, DIR/node{1,2,3}.log
#   DIR/cluster.env    NATS_URLS=nats://127.0.0.1:P1,...,  QUIVER_URLS=http://...  and
#                      PINECONE_URLS=http://... (each node also serves Pinecone's API, --pinecone-port)
# Once every node serves and sees all three members, prints one line per quiver node: its
# Chroma API base URL (http://127.0.0.1:PORT), nothing else on stdout. Runs until SIGTERM or
# SIGINT, then stops the quiver nodes (SIGTERM: they drain and checkpoint), then the NATS
# servers, and exits 0. Exits 1 if something does not start (within QV_CLUSTER_START_TIMEOUT
# seconds, default 60); what failed goes to stderr with the tail of its log.
#
# Environment: QUIVER_BIN (default: build/quiver next to this script's repository, else
# `quiver` on PATH), NATS_SERVER (default nats-server), QV_CLUSTER_ARGS (extra arguments for
# every `quiver serve`, e.g. "--shards 4 --cluster-ack log"). Ports are free ones picked at
# start. Re-running on the same DIR restarts the same cluster with its data (same node ids,
# same ports if they are still free: they are kept in DIR/ports).
set -euo pipefail

DIR=${1:?usage: cluster-up.sh DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
HERE=$(cd "$(dirname "$0")/.." && pwd)
QUIVER_BIN=${QUIVER_BIN:-}
if [ -z "$QUIVER_BIN" ]; then
  if [ -x "$HERE/build/quiver" ]; then QUIVER_BIN="$HERE/build/quiver"; else QUIVER_BIN=$(command -v quiver || true); fi
fi
NATS_SERVER=${NATS_SERVER:-nats-server}
command -v "$NATS_SERVER" >/dev/null || { echo "cluster-up: $NATS_SERVER not found (apt-get install nats-server)" >&2; exit 1; }
[ -n "$QUIVER_BIN" ] && [ -x "$QUIVER_BIN" ] || { echo "cluster-up: quiver binary not found (set QUIVER_BIN)" >&2; exit 1; }
TIMEOUT=${QV_CLUSTER_START_TIMEOUT:-60}

free_ports() { # N free TCP ports on 127.0.0.1
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

port_free() { /usr/bin/python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$1" 2>/dev/null; }

PORTS=""
if [ -f "$DIR/ports" ]; then
  PORTS=$(cat "$DIR/ports")
  for p in $PORTS; do port_free "$p" || { PORTS=""; break; }; done
  [ "$(echo $PORTS | wc -w)" -eq 12 ] || PORTS="" # a ports file from before the Pinecone ports
fi
[ -n "$PORTS" ] || PORTS=$(free_ports 12)
echo "$PORTS" > "$DIR/ports"
read -r C1 C2 C3 R1 R2 R3 H1 H2 H3 P1 P2 P3 <<< "$PORTS"
CLIENT=($C1 $C2 $C3); ROUTE=($R1 $R2 $R3); HTTP=($H1 $H2 $H3); PINECONE=($P1 $P2 $P3)
NATS_URLS="nats://127.0.0.1:$C1,nats://127.0.0.1:$C2,nats://127.0.0.1:$C3"

PIDS_Q=(); PIDS_N=()
stop_all() {
  trap - TERM INT EXIT
  for p in "${PIDS_Q[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS_Q[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${PIDS_N[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS_N[@]}"; do wait "$p" 2>/dev/null || true; done
}
fail() {
  echo "cluster-up: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 20 "$2" >&2
  stop_all
  exit 1
}
trap 'stop_all; exit 0' TERM INT
trap 'stop_all' EXIT

for i in 0 1 2; do
  n=$((i + 1))
  mkdir -p "$DIR/nats$n"
  routes=""
  for j in 0 1 2; do [ "$j" = "$i" ] || routes="$routes\n    nats-route://127.0.0.1:${ROUTE[$j]}"; done
  cat > "$DIR/nats$n.conf" <<CONF
server_name: q$n
listen: 127.0.0.1:${CLIENT[$i]}
jetstream {
  store_dir: "$DIR/nats$n"
  max_memory_store: 256MB
  max_file_store: 8GB
}
cluster {
  name: quiver
  listen: 127.0.0.1:${ROUTE[$i]}
  routes: [$(printf "$routes")
  ]
}
CONF
  "$NATS_SERVER" -c "$DIR/nats$n.conf" >"$DIR/nats$n.log" 2>&1 &
  PIDS_N+=($!)
done

for i in 0 1 2; do
  n=$((i + 1))
  # shellcheck disable=SC2086
  "$QUIVER_BIN" serve --data "$DIR/node$n" --port "${HTTP[$i]}" --node-id "node$n" --cluster "$NATS_URLS" \
    --pinecone-port "${PINECONE[$i]}" --log-level warn ${QV_CLUSTER_ARGS:-} >"$DIR/node$n.log" 2>&1 &
  PIDS_Q+=($!)
done

{
  echo "NATS_URLS=$NATS_URLS"
  echo "QUIVER_URLS=http://127.0.0.1:$H1,http://127.0.0.1:$H2,http://127.0.0.1:$H3"
  echo "PINECONE_URLS=http://127.0.0.1:$P1,http://127.0.0.1:$P2,http://127.0.0.1:$P3"
  echo "QUIVER_PIDS=\"${PIDS_Q[*]}\""
  echo "NATS_PIDS=\"${PIDS_N[*]}\""
} > "$DIR/cluster.env"

# ready: every node answers and lists the three members as live
deadline=$((SECONDS + TIMEOUT))
for i in 0 1 2; do
  n=$((i + 1))
  until out=$(curl -sf "http://127.0.0.1:${HTTP[$i]}/api/v2/cluster" 2>/dev/null) &&
        [ "$(printf '%s' "$out" | grep -o '"live":true' | wc -l)" -ge 3 ]; do
    kill -0 "${PIDS_Q[$i]}" 2>/dev/null || fail "quiver node $n exited" "$DIR/node$n.log"
    for j in 0 1 2; do kill -0 "${PIDS_N[$j]}" 2>/dev/null || fail "nats server $((j + 1)) exited" "$DIR/nats$((j + 1)).log"; done
    [ $SECONDS -lt $deadline ] || fail "node $n not ready within ${TIMEOUT}s" "$DIR/node$n.log"
    sleep 0.2
  done
done
for i in 0 1 2; do echo "http://127.0.0.1:${HTTP[$i]}"; done
# the Pinecone API of each node (stderr and cluster.env: stdout stays the three Chroma URLs)
echo "cluster-up: Pinecone API on http://127.0.0.1:$P1 http://127.0.0.1:$P2 http://127.0.0.1:$P3" >&2

# until a signal (wait returns early on a trapped signal) or a process dies
while :; do
  for p in "${PIDS_Q[@]}" "${PIDS_N[@]}"; do
    kill -0 "$p" 2>/dev/null || true
  done
  sleep 1 &
  wait $! || true
done

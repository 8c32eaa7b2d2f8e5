#!/bin/sh
# Install every Debian package quiver's build, tests and benchmarks need. Idempotent: skips
# what is already installed, and runs apt-get only when something is missing. Needs root
# (or sudo) and a reachable apt mirror.
# Usage: scripts/install-deps.sh [--bench] [--package] [--cluster-faults]
# (--package: what scripts/check-packages.sh and `pip install .` need besides the build;
# --cluster-faults: what tests/cluster-faults and the cluster benchmarks need)
set -eu

PKGS="build-essential cmake pkg-config git clang libclang-rt-14-dev
libsqlite3-dev libjansson-dev libmicrohttpd-dev zlib1g-dev libopenblas-dev libopenblas0-openmp
libcriterion-dev python3 python3-dev python3-numpy python3-pytest valgrind curl ca-certificates
man-db python3-setuptools libgfortran-12-dev
nats-server libnats-dev"
BENCH_PKGS="python3-hnswlib python3-faiss python3-matplotlib libhnswlib-dev pybind11-dev g++"

PACKAGE_PKGS="dpkg-dev debhelper dh-python fakeroot lintian debootstrap python3-pip
python3-wheel"
FAULTS_PKGS="nats-server iptables iproute2"

want=$PKGS
for a in "$@"; do
  case "$a" in
    --bench) want="$want $BENCH_PKGS" ;;
    --package) want="$want $PACKAGE_PKGS" ;;
    --cluster-faults) want="$want $FAULTS_PKGS" ;;
    *) echo "install-deps: unknown option $a" >&2; exit 2 ;;
  esac
done

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if [ -n "$missing" ]; then
  echo "install-deps: installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "install-deps: all packages present"
fi

# faiss (benchmarks) links libblas.so.3: use the OpenMP OpenBLAS, not the pthread flavour that
# libopenblas-dev pulls in (it competes with faiss's OpenMP threads; shared/bench/README.md).
alt=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
if [ -e "$alt" ] && command -v update-alternatives >/dev/null; then
  $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$alt" >/dev/null 2>&1 || true
fi

# node (for the JS client tests) comes with the machine; never apt-get install npm over it.
command -v node >/dev/null || echo "install-deps: warning: node not found; the JS client tests (part of CI) will fail"

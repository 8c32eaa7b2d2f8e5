#!/bin/bash
# The README's test command: install dependencies, build (warnings as errors, gcc and clang),
# run the C tests, the Python tests, the CLI/server tests, then the whole C suite again under
# ASan + UBSan. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)

./scripts/install-deps.sh

step() { printf '\n==== %s ====\n' "$*"; }

step "data: Fashion-MNIST for the recall tests"
# No suite skips itself: the recall tests need this data, so failing to prepare it fails CI.
SHARED=${QV_SHARED:-../shared}
[ -x "$SHARED/data/prepare" ] || { echo "test.sh: $SHARED/data/prepare not found (set QV_SHARED)" >&2; exit 1; }
/usr/bin/python3 "$SHARED/data/prepare" "$ROOT/.data/fashion-mnist-784-euclidean" >/dev/null

step "build (gcc, -Werror)"
cmake -S . -B build -DQV_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"

step "build (clang, -Werror, library + tests only)"
CC=clang cmake -S . -B build-clang -DQV_WERROR=ON -DQV_BUILD_PYTHON=OFF >/dev/null
cmake --build build-clang -j"$JOBS"

step "C tests (Criterion, via ctest)"
(cd build && ctest --output-on-failure -j1)

step "Python tests (pytest)"
PYTESTS=(python/tests tests/cli tests/server tests/docs)
PYTESTS+=(tests/cluster)   # 3 NATS servers + 3 nodes via scripts/cluster-up.sh (nats-server; loopback only)
PYTESTS+=(tests/cluster-faults)   # the fault harness checker on synthetic histories (no namespaces)
PYTESTS+=(tests/install)   # cmake --install into a scratch prefix, pkg-config, versions, man pages
QUIVER_BUILD="$ROOT/build/python" QUIVER_BIN="$ROOT/build/quiver" /usr/bin/python3 -m pytest -q "${PYTESTS[@]}"

step "JS client tests (node --test, official chromadb client)"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "test.sh: $tool not found: the JS client tests cannot run" >&2; exit 1; }
done
(cd tests/js && npm install --no-audit --no-fund --silent && QUIVER_BIN="$ROOT/build/quiver" node --test)

step "JS client tests (node --test, official @pinecone-database/pinecone client)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "FAIL: node and npm are needed for tests/js-pinecone (Node 20 is expected on this machine)" >&2
  exit 1
fi
(cd tests/js-pinecone && npm install --no-audit --no-fund --silent && QUIVER_BIN="$ROOT/build/quiver" node --test)

# Unlike the step above, this one never skips: without node and npm it fails.
step "LangChain JS (@langchain/community Chroma store) against quiver serve"
command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "node and npm are required for tests/js-langchain (they come with the machine)"; exit 1; }
(cd tests/js-langchain && npm install --no-audit --no-fund --silent && QUIVER_BIN="$ROOT/build/quiver" node --test)

step "sanitizer build (ASan + UBSan) and C tests"
cmake -S . -B build-asan -DQV_WERROR=ON -DQV_SANITIZE=ON -DQV_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$JOBS"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j1 -LE recall)

step "fuzz targets (clang libFuzzer + ASan + UBSan): a short run of each"
CC=clang cmake -S . -B build-fuzz -DQV_FUZZ=ON -DQV_WERROR=ON -DQV_BUILD_TESTS=OFF -DQV_BUILD_PYTHON=OFF >/dev/null
cmake --build build-fuzz -j"$JOBS"
./scripts/fuzz-run.sh build-fuzz -runs=20000 -max_total_time=10

echo
echo "all tests passed"

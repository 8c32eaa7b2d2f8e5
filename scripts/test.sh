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
/usr/bin/python3 ../shared/data/prepare "$ROOT/.data/fashion-mnist-784-euclidean" >/dev/null 2>&1 \
  || echo "(shared data not available: recall tests on real data will be skipped)"

step "build (gcc, -Werror)"
cmake -S . -B build -DQV_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"

step "build (clang, -Werror, library + tests only)"
CC=clang cmake -S . -B build-clang -DQV_WERROR=ON -DQV_BUILD_PYTHON=OFF >/dev/null
cmake --build build-clang -j"$JOBS"

step "C tests (Criterion, via ctest)"
(cd build && ctest --output-on-failure -j1)

step "Python tests (pytest)"
PYTESTS=(python/tests)
[ -d tests/cli ] && PYTESTS+=(tests/cli)
[ -d tests/server ] && PYTESTS+=(tests/server)
PYTESTS+=(tests/docs)
PYTESTS+=(tests/install)   # cmake --install into a scratch prefix, pkg-config, versions, man pages
QUIVER_BUILD="$ROOT/build/python" QUIVER_BIN="$ROOT/build/quiver" /usr/bin/python3 -m pytest -q "${PYTESTS[@]}"

if [ -f tests/js/package.json ] && command -v node >/dev/null && command -v npm >/dev/null; then
  step "JS client tests (node --test, official chromadb client)"
  (cd tests/js && npm install --no-audit --no-fund --silent && QUIVER_BIN="$ROOT/build/quiver" node --test)
fi

# Unlike the step above, this one never skips: without node and npm it fails.
step "LangChain JS (@langchain/community Chroma store) against quiver serve"
command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "node and npm are required for tests/js-langchain (they come with the machine)"; exit 1; }
(cd tests/js-langchain && npm install --no-audit --no-fund --silent && QUIVER_BIN="$ROOT/build/quiver" node --test)

step "sanitizer build (ASan + UBSan) and C tests"
cmake -S . -B build-asan -DQV_WERROR=ON -DQV_SANITIZE=ON -DQV_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$JOBS"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j1 -LE recall)

echo
echo "all tests passed"

#!/bin/bash
# Run shared/bench/annbench on Fashion-MNIST with quiver against its peers, in one run, and
# leave the JSONL, the summary table and the recall/QPS plot under bench/results/.
#
#   bench/run_annbench.sh                      # quiver vs hnswlib-native, hnswlib, faiss-hnsw
#   bench/run_annbench.sh --systems quiver-flat,faiss-flat --batch
#   METRIC=cosine bench/run_annbench.sh        # the cosine path (gt_cosine ground truth)
#
# Extra arguments go to annbench (e.g. --quick, --queries 1000, --runs 3). Needs the build
# (scripts/build.sh) and the benchmark packages (scripts/install-deps.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared}
DATA=${DATA:-$ROOT/.data/fashion-mnist-784-euclidean}
OUT=${OUT:-$ROOT/bench/results}
METRIC=${METRIC:-l2}
mkdir -p "$OUT"
./scripts/install-deps.sh --bench >/dev/null
[ -f "$DATA/base.fvecs" ] || /usr/bin/python3 "$SHARED/data/prepare" "$DATA" >/dev/null
tag=fmnist-$METRIC-$(date +%Y%m%d-%H%M%S)
args=("$DATA" --quiver-path "$ROOT/build/python" --out "$OUT/$tag.jsonl" --summary "$OUT/$tag.txt"
      --plot "$OUT/$tag.png")
if [ "$METRIC" = cosine ]; then args+=(--metric cosine --gt gt_cosine.ivecs); fi
has_systems=0
for a in "$@"; do [ "$a" = --systems ] && has_systems=1; done
[ $has_systems = 1 ] || args+=(--systems quiver,hnswlib-native,hnswlib,faiss-hnsw)
echo "annbench ${args[*]} $*"
/usr/bin/python3 "$SHARED/bench/annbench" "${args[@]}" "$@"
echo "results: $OUT/$tag.{jsonl,txt,png}"
cat "$OUT/$tag.txt"

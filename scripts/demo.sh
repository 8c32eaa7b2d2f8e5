#!/bin/bash
# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
#
# demo.sh -- a walkthrough of the `quiver` command-line tool on an embedded data directory.
#
#   scripts/demo.sh                 # uses ./quiver-data (or $QUIVER_DATA)
#   QUIVER_BIN=path/to/quiver scripts/demo.sh
#
# It writes a small JSON Lines sample (records with documents and metadata, 4-dimensional
# "topic" embeddings: animal, fruit, vehicle, size), imports it into the collection "demo",
# queries it with and without filters, shows get/delete/info, and, when the Fashion-MNIST
# data has been prepared (.data/fashion-mnist-784-euclidean), imports 10,000 of its vectors
# from an .fvecs stream and queries one. Re-running it starts "demo" afresh; other
# collections in the data directory are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

QUIVER=${QUIVER_BIN:-build/quiver}
export QUIVER_DATA=${QUIVER_DATA:-./quiver-data}
FMNIST=.data/fashion-mnist-784-euclidean/base.fvecs

if [ ! -x "$QUIVER" ]; then
  echo "demo: $QUIVER not found; build first (scripts/build.sh)" >&2
  exit 1
fi

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi

# Print a command line (arguments quoted when they need it), bold on a terminal.
show() {
  local line="\$" a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,+-]+$ || $a == "<" || $a == "|" ]]; then line+=" $a"; else line+=" '$a'"; fi
  done
  printf '\n%s%s%s\n' "$BOLD" "$line" "$PLAIN"
}

# Print a quiver command, then run it.
run() {
  show quiver "$@"
  "$QUIVER" "$@"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/sample.jsonl" <<'EOF'
{"id": "cat",       "embedding": [0.95, 0.05, 0.00, 0.20], "metadata": {"category": "animal", "legs": 4, "year": 2019, "colors": ["black", "white"]}, "document": "A small cat sleeping on a warm windowsill."}
{"id": "dog",       "embedding": [0.90, 0.00, 0.05, 0.35], "metadata": {"category": "animal", "legs": 4, "year": 2021, "colors": ["brown"]}, "document": "A friendly dog fetching a red ball in the park."}
{"id": "elephant",  "embedding": [0.85, 0.05, 0.00, 0.95], "metadata": {"category": "animal", "legs": 4, "year": 2018, "colors": ["grey"]}, "document": "An elephant bathing in the river at sunset."}
{"id": "parrot",    "embedding": [0.80, 0.20, 0.00, 0.10], "metadata": {"category": "animal", "legs": 2, "year": 2023, "colors": ["green", "red"]}, "document": "A red and green parrot eating a piece of mango."}
{"id": "apple",     "embedding": [0.00, 0.95, 0.00, 0.10], "metadata": {"category": "fruit", "year": 2020, "colors": ["red"]}, "document": "A crisp red apple from the autumn harvest."}
{"id": "banana",    "embedding": [0.05, 0.90, 0.00, 0.15], "metadata": {"category": "fruit", "year": 2022, "colors": ["yellow"]}, "document": "A ripe banana, sweet and soft."}
{"id": "watermelon","embedding": [0.00, 0.85, 0.05, 0.70], "metadata": {"category": "fruit", "year": 2021, "colors": ["green", "red"]}, "document": "A heavy watermelon cooling in a bucket of ice."}
{"id": "mango",     "embedding": [0.10, 0.90, 0.00, 0.20], "metadata": {"category": "fruit", "year": 2024, "colors": ["orange"]}, "document": "A mango so ripe it drips; parrots love them too."}
{"id": "bicycle",   "embedding": [0.00, 0.00, 0.90, 0.20], "metadata": {"category": "vehicle", "wheels": 2, "year": 2020, "colors": ["blue"]}, "document": "A blue bicycle leaning against a fence."}
{"id": "truck",     "embedding": [0.00, 0.00, 0.95, 0.90], "metadata": {"category": "vehicle", "wheels": 18, "year": 2017, "colors": ["white"]}, "document": "A long truck hauling fruit across the country."}
{"id": "scooter",   "embedding": [0.05, 0.00, 0.85, 0.10], "metadata": {"category": "vehicle", "wheels": 2, "year": 2024, "colors": ["red"]}, "document": "A red electric scooter parked outside a cafe."}
{"id": "horse-cart","embedding": [0.50, 0.00, 0.60, 0.60], "metadata": {"category": "vehicle", "wheels": 4, "year": 2016, "colors": ["brown"]}, "document": "A horse pulling a cart of apples to the market."}
EOF

echo "quiver CLI walkthrough -- data directory: $QUIVER_DATA"
"$QUIVER" drop demo --if-exists >/dev/null

# 1. a collection and its records
run create demo --dim 4 --metric cosine --metadata '{"description": "quiver CLI demo"}'
run import demo "$work/sample.jsonl"
run list --long

# 2. nearest neighbours of an "animal-ish, small" vector
run query demo --vector "0.9,0.1,0,0.2" -k 4

# 3. the same query restricted by metadata, then by document text
run query demo --vector "0.9,0.1,0,0.2" -k 3 --where '{"category": {"$ne": "animal"}}'
run query demo --vector "0.9,0.1,0,0.2" -k 3 --where '{"$and": [{"year": {"$gte": 2020}}, {"colors": {"$contains": "red"}}]}'
run query demo --vector "0.1,0.8,0.1,0.3" -k 3 --where-document '{"$contains": "red"}'

# 4. machine-readable output (the Chroma query shape); a batch of two queries from stdin
echo "0.9 0.1 0 0.2
      0 0 1 0.5" > "$work/queries.txt"
show quiver query demo -k 2 --json "<" queries.txt
"$QUIVER" query demo -k 2 --json < "$work/queries.txt"

# 5. get and delete by id and by filter
run get demo --where '{"category": "fruit"}' --limit 3
run get demo --ids cat,truck --include metadatas,embeddings --json
run delete demo --where '{"year": {"$lt": 2018}}'
run info demo

# 6. real vectors, if the benchmark data is there: 10,000 Fashion-MNIST images from stdin
if [ -f "$FMNIST" ]; then
  "$QUIVER" drop fmnist-demo --if-exists >/dev/null
  show head -c $((10000 * (4 + 4 * 784))) "$FMNIST" "|" quiver import fmnist-demo - --format fvecs --create
  head -c $((10000 * (4 + 4 * 784))) "$FMNIST" | "$QUIVER" import fmnist-demo - --format fvecs --create
  run query fmnist-demo --vector-file "$FMNIST" --row 42 -k 5 --include distances
fi

echo
echo "done: the data stays in $QUIVER_DATA (quiver --data $QUIVER_DATA list)"

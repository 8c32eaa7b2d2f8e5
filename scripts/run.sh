#!/bin/bash
# The README's main job: install dependencies, build, and start the quiver server (Chroma v2
# API) on 127.0.0.1:8000 with the data directory ./quiver-data. Extra arguments go to
# `quiver serve` (e.g. --port 9000 --token secret). Without the server built, it runs the CLI
# walkthrough instead.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
if build/quiver serve --help >/dev/null 2>&1; then
  exec build/quiver serve --data ./quiver-data "$@"
fi
exec ./scripts/demo.sh

#!/usr/bin/env bash
# The README's main job: install, build, then run the demo (synthetic cohort → import → train →
# evaluate → report). Prints where the report is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/src/cli/main.js doctor
# One GC thread: on a 2-core machine V8's parallel GC threads take cores from LibTorch (docs/benchmarks.md).
node --single-threaded-gc dist/src/cli/main.js demo "$@"

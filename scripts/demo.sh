#!/usr/bin/env bash
# The README's main job: install, build, then run the demo (synthetic cohort → import → train →
# evaluate → report). Prints where the report is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/src/cli/main.js doctor
# One GC thread keeps V8's parallel GC threads off LibTorch's cores (docs/engine.md).
node --single-threaded-gc dist/src/cli/main.js demo "$@"

#!/usr/bin/env bash
# The README's main job: install, build, then run the demo (synthetic cohort → import → train →
# evaluate → report). Prints where the report is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/src/cli/main.js doctor
# One GC thread: it kept V8's parallel GC threads off LibTorch's cores while every activation was reported to V8;
# since scopes stopped reporting temporaries it measures no difference (README, Configuration).
node --single-threaded-gc dist/src/cli/main.js demo "$@"

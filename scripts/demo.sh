#!/usr/bin/env bash
# The README's main job: install, build, then run the demo (synthetic cohort → import → train →
# evaluate → report). Prints where the report is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/src/cli/main.js doctor
node dist/src/cli/main.js demo "$@"

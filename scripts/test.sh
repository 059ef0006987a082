#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, lints, runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
HIPFRAC_SETUP_TESTS=1 bash scripts/setup.sh
npx eslint src test bench
npm test

#!/usr/bin/env bash
# GPU check (UNVERIFIED: no CUDA machine has run it yet). On a CUDA machine with a PyTorch install, builds the
# addon against that PyTorch's own LibTorch and runs the operator parity tests with our side on the GPU.
#
#   bash scripts/gpu-check.sh            # uses `python3`; HIPFRAC_PYTHON=/path/to/python to choose another
#
# The PyTorch reference in the tests still computes on the CPU. Afterwards native/build holds the CUDA build:
# `npx node-gyp rebuild -C native` goes back to Debian's LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${HIPFRAC_PYTHON:-python3}"
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "gpu-check: $PY has no torch; set HIPFRAC_PYTHON to a Python with PyTorch" >&2
  exit 2
fi
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu-check: $PY's torch sees no CUDA device; nothing to check" >&2
  exit 3
fi

# A wheel's torch/ folder has include/ and lib/ as a LibTorch does; wheels before 2.x may use the old C++ ABI.
LIBTORCH="$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))')"
TORCH_CXX11_ABI="$("$PY" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')"
export LIBTORCH TORCH_CXX11_ABI
echo "gpu-check: LibTorch $LIBTORCH (torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)'), CXX11 ABI $TORCH_CXX11_ABI)"

npx node-gyp rebuild -C native --loglevel=warn
npx tsc -p tsconfig.json
node -e "import('./dist/src/torch/index.js').then(t => { const b = t.buildInfo(); console.log('addon: torch', b.torchVersion, 'cudaCompiled', b.cudaCompiled, 'devices', t.cuda.deviceCount()); if (!t.cuda.isAvailable()) process.exit(4); })"

HIPFRAC_TEST_DEVICE=cuda HIPFRAC_PYTHON="$PY" node --test --test-reporter=spec dist/test/torch/ops-parity.test.js

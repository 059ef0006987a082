#!/usr/bin/env bash
# GPU check. On a CUDA machine with a PyTorch install: builds the addon against that PyTorch's own LibTorch,
# runs the operator parity tests with our side on the GPU (the PyTorch reference computes on the CPU), then
# bench/gpu.js (CUDA vs CPU agreement of densenet121/resnet50, img/s against torchvision on the same GPU).
#
#   bash scripts/gpu-check.sh            # uses `python3`; HIPFRAC_PYTHON=/path/to/python to choose another
#   bash scripts/gpu-check.sh --build-only   # only build the addon against that LibTorch
# Other arguments go to bench/gpu.js.
#
# Two ways to build the addon:
# - with this checkout's node_modules (npm ci done): node-gyp, as on any machine;
# - without npm (a GPU box with no registry): HIPFRAC_NODE_HEADERS=DIR holding node_api.h, js_native_api*.h,
#   node_api_types.h and node-addon-api's napi*.h, and a compiled dist/ carried along; g++ builds directly.
# Afterwards native/build holds the CUDA build: `npx node-gyp rebuild -C native` goes back to Debian's LibTorch.
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
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

if [[ -n "${HIPFRAC_NODE_HEADERS:-}" ]]; then
  # The same flags as native/binding.gyp (C++20 where the headers demand it: PyTorch 2.12 and later).
  CXXSTD=c++17
  if grep -qs '202002L' "$LIBTORCH/include/ATen/ATen.h" "$LIBTORCH/include/torch/csrc/api/include/torch/all.h"; then CXXSTD=c++20; fi
  mkdir -p native/build/Release
  time g++ -shared -fPIC -std=$CXXSTD -O2 -fexceptions -frtti -Wno-unused-parameter -Wno-deprecated-declarations \
    -DNAPI_CPP_EXCEPTIONS -D_GLIBCXX_USE_CXX11_ABI="$TORCH_CXX11_ABI" -DBUILDING_NODE_EXTENSION \
    -I"$HIPFRAC_NODE_HEADERS" -I"$LIBTORCH/include" -I"$LIBTORCH/include/torch/csrc/api/include" \
    native/addon.cc native/cpu_allocator.cc -o native/build/Release/hipfrac_torch.node \
    -L"$LIBTORCH/lib" -Wl,-rpath,"$LIBTORCH/lib" -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -ltorch_cuda -lc10_cuda
else
  npx node-gyp rebuild -C native --loglevel=warn
  npx tsc -p tsconfig.json
fi
node -e "import('./dist/src/torch/index.js').then(t => { const b = t.buildInfo(); console.log('addon: torch', b.torchVersion, 'cudaCompiled', b.cudaCompiled, 'devices', t.cuda.deviceCount()); if (!t.cuda.isAvailable()) process.exit(4); })"

if [[ "${1:-}" == "--build-only" ]]; then exit 0; fi
status=0
HIPFRAC_TEST_DEVICE=cuda HIPFRAC_PYTHON="$PY" node --test --test-reporter=spec dist/test/torch/ops-parity.test.js || status=$?
HIPFRAC_PYTHON="$PY" node --test --test-reporter=spec dist/test/train/device.test.js || status=$?
HIPFRAC_PYTHON="$PY" node dist/bench/gpu.js "$@" || status=$?
exit "$status"

#!/usr/bin/env bash
# Installs everything hipfrac needs on a fresh Debian machine (as root) and builds it.
# Idempotent: each step is skipped when already done. Nothing is downloaded but Debian and npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: LibTorch (engine), Gloo's headers (c10d's CPU process group, for data-parallel training),
# OpenBLAS (fast sgemm for linear layers), and the reference tools
# the tests compare against or run as real peers (PyTorch/torchvision, dcmtk, GDCM, dicom3tools, pydicom, Pillow,
# ONNX's checker, Orthanc as the PACS, Chromium for the review UI's browser tests, GNU time for bench/serve.ts's CPU
# figure of predict).
DEB_RUNTIME="libtorch-dev libgloo-dev libopenblas0-pthread"
DEB_TEST="python3-torch python3-torchvision python3-sklearn python3-scipy dcmtk libgdcm-tools dicom3tools python3-pydicom python3-pil python3-numpy python3-onnx orthanc chromium time"
want="$DEB_RUNTIME"
if [[ "${HIPFRAC_SETUP_TESTS:-0}" == "1" ]]; then want="$want $DEB_TEST"; fi
missing=""
for p in $want; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [[ -n "$missing" ]]; then
  if [[ $(id -u) -ne 0 ]]; then echo "hipfrac setup: missing Debian packages:$missing (run as root or install them)" >&2; exit 1; fi
  echo "hipfrac setup: installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "hipfrac setup: npm ci"
  # onnxruntime-node ships its CPU binary in the package; its postinstall would try to download CUDA parts.
  ONNXRUNTIME_NODE_INSTALL=skip ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --no-audit --no-fund --loglevel=error
fi

stale=0
for addon in native/build/Release/hipfrac_torch.node native/build/Release/hipfrac_process.node; do
  [[ -f $addon ]] || stale=1
  for f in native/*.cc native/*.h native/binding.gyp; do if [[ $f -nt $addon ]]; then stale=1; fi; done
done
if [[ $stale == 1 ]]; then
  echo "hipfrac setup: building the native addons (LibTorch: LIBTORCH=${LIBTORCH:-/usr})"
  npx node-gyp rebuild -C native --loglevel=warn
fi
echo "hipfrac setup: compiling TypeScript"
npx tsc -p tsconfig.json
echo "hipfrac setup: building the review UI (esbuild, into dist/ui)"
node dist/src/serve/review/assets.js

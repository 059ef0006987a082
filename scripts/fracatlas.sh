#!/usr/bin/env bash
# The real-image run (docs/results.md, 'Not published' until a run is stored): FracAtlas (non-hip part; ../shared/datasets, CC BY 4.0, never
# committed) imported, split by image (the set has no patient IDs), a CNN trained from scratch (no ImageNet
# weights are available offline), then Grad-CAM localisation against FracAtlas's fracture boxes and the triage
# policies measured on held-out halves of the validation images. Sized for a 2-core CPU (~30 min).
#   bash scripts/fracatlas.sh            # ARCH, SIZE, EPOCHS, OUT, FRACATLAS override the defaults
set -euo pipefail
cd "$(dirname "$0")/.."
FRACATLAS="${FRACATLAS:-../shared/datasets/fracatlas-nonhip}"
OUT="${OUT:-runs/fracatlas}"
ARCH="${ARCH:-resnet18}"
SIZE="${SIZE:-160}"
EPOCHS="${EPOCHS:-10}"
hipfrac() { node --single-threaded-gc dist/src/cli/main.js "$@"; }

hipfrac import "$FRACATLAS" --layout fracatlas --out "$OUT/dataset"
hipfrac train --data "$OUT/dataset" --out "$OUT/run" --arch "$ARCH" --scratch --input-size "$SIZE" \
  --unfrozen-epochs "$EPOCHS" --patience 5 --balanced --no-lr-find --unfrozen-lr 2e-3 --seed 42 \
  $( [[ -f "$OUT/run/train-state/state.json" ]] && echo --resume )
node scripts/fracatlas-eval.mjs "$OUT" "$FRACATLAS" > "$OUT/eval-summary.log"
hipfrac explain "$OUT/eval/fractured" --model "$OUT/run/model" --boxes "$OUT/eval/boxes.csv" --out "$OUT/eval/explain"
hipfrac triage-calibrate "$OUT/eval/valid" --model "$OUT/run/model" --labels "$OUT/eval/labels.csv" --method conformal-lac --alpha 0.1 --out "$OUT/eval/conformal.json"
echo "report: $OUT/run/report.html; localisation: $OUT/eval/explain/localisation.json; held-out triage: $OUT/eval/summary.json"

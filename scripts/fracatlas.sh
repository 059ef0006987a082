#!/usr/bin/env bash
# The README's real-image figure, reproducible: FracAtlas (non-hip part; ../shared/datasets, CC BY 4.0, Abedeen et
# al., Scientific Data 10, 521, 2023; never committed) imported, split by image (the set has no patient IDs) into
# train / validation / test (70/15/15, stratified, seeded), a CNN trained from scratch (no ImageNet weights are
# available offline) with epochs, temperature and cut-offs chosen on validation, then every figure on the test
# images: metrics, the input gate's pass rate, Grad-CAM localisation against FracAtlas's fracture boxes and the
# triage policies (calibrated on validation), then the shortcut audit (docs/real-images.md). Box supervision against
# FracAtlas's fracture boxes and marker masking are on by default. Sized for a 2-core CPU (~40-50 min when the CPU is
# not shared: marker masking adds a one-off detection pass over the training images, the audit ~10 min).
#   bash scripts/fracatlas.sh            # ARCH, SIZE, EPOCHS, OUT, FRACATLAS, BOX_LOSS_WEIGHT (0: off), MASK_MARKERS (0: off)
set -euo pipefail
cd "$(dirname "$0")/.."
FRACATLAS="${FRACATLAS:-../shared/datasets/fracatlas-nonhip}"
OUT="${OUT:-runs/fracatlas}"
ARCH="${ARCH:-resnet18}"
SIZE="${SIZE:-160}"
EPOCHS="${EPOCHS:-10}"
BOX_LOSS_WEIGHT="${BOX_LOSS_WEIGHT:-1}"
MASK_MARKERS="${MASK_MARKERS:-1}"
hipfrac() { node --single-threaded-gc dist/src/cli/main.js "$@"; }
# Seconds per stage, for bench/results/fracatlas.json (the last step).
declare -A STAGE
LOAD="load average $(cut -d' ' -f1 /proc/loadavg) at the start"
stage() { local name=$1; shift; local t0=$SECONDS; "$@"; STAGE[$name]=$(( ${STAGE[$name]:-0} + SECONDS - t0 )); }

stage import hipfrac import "$FRACATLAS" --layout fracatlas --out "$OUT/dataset"
[[ -f "$OUT/dataset/split.json" ]] || stage import hipfrac split "$OUT/dataset" --val 0.15 --test 0.15 --seed 42
stage train hipfrac train --data "$OUT/dataset" --out "$OUT/run" --arch "$ARCH" --scratch --input-size "$SIZE" \
  --unfrozen-epochs "$EPOCHS" --patience 5 --balanced --no-lr-find --unfrozen-lr 2e-3 --seed 42 \
  --box-loss-weight "$BOX_LOSS_WEIGHT" $( [[ "$MASK_MARKERS" == 1 ]] && echo --mask-markers ) \
  $( [[ -f "$OUT/run/train-state/state.json" ]] && echo --resume )
stage triage node scripts/fracatlas-eval.mjs "$OUT" "$FRACATLAS" > "$OUT/eval-summary.log"
stage explain hipfrac explain "$OUT/eval/fractured" --model "$OUT/run/model" --boxes "$OUT/eval/boxes.csv" --out "$OUT/eval/explain"
stage triage hipfrac triage-calibrate "$OUT/eval/valid" --model "$OUT/run/model" --labels "$OUT/eval/labels.csv" --method conformal-lac --alpha 0.1 --out "$OUT/eval/conformal.json"
stage audit hipfrac audit-shortcuts --model "$OUT/run/model" --data "$OUT/dataset" --out "$OUT/audit"
cat > "$OUT/timing.json" <<JSON
{"recipe": {"arch": "$ARCH", "inputSize": $SIZE, "epochs": $EPOCHS, "boxLossWeight": $BOX_LOSS_WEIGHT, "maskMarkers": $( [[ "$MASK_MARKERS" == 1 ]] && echo true || echo false )},
 "seconds": {"import": ${STAGE[import]:-0}, "train": ${STAGE[train]:-0}, "triage": ${STAGE[triage]:-0}, "explain": ${STAGE[explain]:-0}, "audit": ${STAGE[audit]:-0}},
 "load": "$LOAD"}
JSON
node dist/bench/fracatlas.js --run "$OUT"
echo "shortcut audit (test split): $OUT/audit/audit.md"
echo "report: $OUT/run/report.html (test figures); localisation (test fractures): $OUT/eval/explain/localisation.json; triage calibrated on validation, measured on test: $OUT/eval/summary.json"

#!/usr/bin/env bash
# The README's real-image figure, reproducible: FracAtlas (non-hip part; ../shared/datasets, CC BY 4.0, Abedeen et
# al., Scientific Data 10, 521, 2023; never committed) imported (cached at 320 px on the long side, as in the
# ablation), split by image (the set has no patient IDs) into train / validation / test (70/15/15, stratified,
# seeded), a CNN trained from scratch (no ImageNet weights are available offline) with epochs, temperature and
# cut-offs chosen on validation, then every figure on the test images: metrics, the input gate's pass rate, Grad-CAM
# localisation against FracAtlas's fracture boxes and the triage policies (calibrated on validation), then the
# shortcut audit (docs/real-images.md); the figures go to bench/results/fracatlas.json (a GPU run: fracatlas-gpu.json).
# The default recipe: ResNet-18 at 320 px (the import's largest side), 18 epochs with progressive resizing (4 at
# 160 px, 4 at 224, 10 at 320; only the 320 px epochs are validated), the training forward passes in bfloat16
# autocast (PRECISION=bf16: 1.9x the float32 step on this project's AVX-512 BF16 CPU, bench/results/precision.json;
# weights, losses, validation and the checkpoint stay float32), fastai's augmentation (the boxes warped with the
# images), box supervision with the fine box head (the last map and layer3: 20 x 20 cells at 320 px) and the box-peak
# loss. It is the box head study's best recipe (bench/results/boxhead.json: 13 epochs, validation ROC-AUC 0.829) with
# the epochs bfloat16 pays for within the hour: validation ROC-AUC 0.859, test 0.905 (docs/real-images.md). Without
# bfloat16 instructions (AVX-512 BF16, AMX) the speed-up is not measured here: PRECISION=fp32 EPOCHS=13 is the
# float32 recipe that fits the hour on this VM (test ROC-AUC 0.882). At 96 px a ResNet's last map
# has 3 x 3 cells, whose centres fall inside FracAtlas's small boxes on 9 % of the test images: no 96 px heatmap can
# point at more; 20 x 20 cells allow 94 %.
# ARCH=resnet34 or ARCH=efficientnet_b0 with PROGRESSIVE=160:2,224:2 EPOCHS=9 trains another architecture in about
# the reference's training time (their epochs take about twice a ResNet-18's; test ROC-AUC 0.866 and 0.839 against
# 0.905, docs/real-images.md); the fine box head reads a DenseNet's dense block 3 or an EfficientNet's features.5.
# SIZE=512 PROGRESSIVE=160:4,224:4,320:4 EPOCHS=14 trains the last two epochs at 512 px: 71 min, test ROC-AUC 0.872
# (box head 50.0 %); SIZE=224 PROGRESSIVE=160:4 EPOCHS=31 spends the hour at 224 px: 0.893 (37.8 %).
# BALANCED=0 drops the class-balanced batches (the training set's own 18 % fractures in every batch). PRETRAIN=S:E runs
# E epochs of SimCLR (`hipfrac pretrain`, docs/real-images.md) at S px on the training images first and starts the
# supervised epochs from that body (one SimCLR epoch sees two views of every image: two supervised epochs' passes at
# S px); PRETRAIN=160:6 PROGRESSIVE= EPOCHS=10 spends the passes of the default's eight low-resolution epochs on it
# (CPU only: hipfrac pretrain has no --device, so the GPU variant refuses PRETRAIN).
# Marker masking is off (it moved the ablation's AUC by +0.006 for a quarter more training time). Augmentation costs
# no measurable time at 320 px (epochs of 223-265 s with it, 212-252 s without); the 4.5x of the 96 px ablation was
# the warp's share of a much cheaper step.
# The GPU variant (DEVICE=cuda, after `bash scripts/gpu-check.sh --build-only` has built the addon against a CUDA
# LibTorch, docs/gpu.md) trains, explains, calibrates and audits on the GPU with a longer recipe as its default:
# 20 epochs with augmentation, all at 320 px (no progressive resizing unless PROGRESSIVE is set), otherwise the same. The GPU variant has not been run on this project's machines (no GPU
# was lent when it was written): its figures are not in the repository.
# The epoch kept is the one with the best validation ROC-AUC (MONITOR=roc-auc): on a set with 18 % fractures,
# validation accuracy can prefer an epoch that calls nearly everything normal (docs/real-images.md, "Seeds and the
# epoch kept"). MONITOR=accuracy is the study's choice.
#   bash scripts/fracatlas.sh   # ARCH, SIZE, EPOCHS, AUGMENT, BALANCED (0: off), PRETRAIN (SIZE:EPOCHS of SimCLR; empty: off), BOX_LOSS_WEIGHT (0: off), BOX_PEAK_WEIGHT, BOX_HEAD (last|fine), MASK_MARKERS (1: on), MONITOR (roc-auc|accuracy), PRECISION (bf16|fp32), SEED (training; the split's stays 42), PROGRESSIVE (SIZE:EPOCHS,...; CPU default 160:4,224:4; empty: off), DEVICE (cpu, cuda, cuda:N), OUT, RESULT (the JSON written; default bench/results/fracatlas.json), FRACATLAS
set -euo pipefail
cd "$(dirname "$0")/.."
FRACATLAS="${FRACATLAS:-../shared/datasets/fracatlas-nonhip}"
DEVICE="${DEVICE:-cpu}"
hipfrac() { node --single-threaded-gc dist/src/cli/main.js "$@"; }
if [[ "$DEVICE" == cpu ]]; then
  OUT="${OUT:-runs/fracatlas}"; ARCH="${ARCH:-resnet18}"; SIZE="${SIZE:-320}"; EPOCHS="${EPOCHS:-18}"; AUGMENT="${AUGMENT:-1}"
  PROGRESSIVE="${PROGRESSIVE-160:4,224:4}"
else
  # Refused before any work when this addon cannot reach the device (a CPU build, or no GPU visible).
  if ! hipfrac doctor | grep -q '^cuda  *available'; then
    echo "fracatlas.sh: DEVICE=$DEVICE, but this build of hipfrac sees no CUDA device (hipfrac doctor: $(hipfrac doctor | grep -E '^(libtorch|cuda) ' | tr -s ' ' | paste -sd ';'))." >&2
    echo "fix: on a machine with an NVIDIA GPU and PyTorch, run bash scripts/gpu-check.sh --build-only first (docs/gpu.md), or drop DEVICE for the CPU recipe." >&2
    exit 2
  fi
  OUT="${OUT:-runs/fracatlas-gpu}"; ARCH="${ARCH:-resnet18}"; SIZE="${SIZE:-320}"; EPOCHS="${EPOCHS:-20}"; AUGMENT="${AUGMENT:-1}"
fi
BOX_LOSS_WEIGHT="${BOX_LOSS_WEIGHT:-1}"
# The peak loss and the fine head train the box head: without box supervision they are off.
if [[ "$BOX_LOSS_WEIGHT" == 0 ]]; then BOX_PEAK_WEIGHT=0; BOX_HEAD=last; fi
BOX_PEAK_WEIGHT="${BOX_PEAK_WEIGHT:-1}"
BOX_HEAD="${BOX_HEAD:-fine}"
MASK_MARKERS="${MASK_MARKERS:-0}"
MONITOR="${MONITOR:-roc-auc}"
PRECISION="${PRECISION:-bf16}"
SEED="${SEED:-42}"
PROGRESSIVE="${PROGRESSIVE:-}"
BALANCED="${BALANCED:-1}"
PRETRAIN="${PRETRAIN:-}"
for flag in AUGMENT BALANCED MASK_MARKERS; do
  if [[ "${!flag}" != 0 && "${!flag}" != 1 ]]; then
    echo "fracatlas.sh: $flag='${!flag}' is neither 0 nor 1." >&2
    echo "fix: $flag=1 turns it on, $flag=0 off." >&2
    exit 2
  fi
done
if [[ -n "$PRETRAIN" && ! "$PRETRAIN" =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]]; then
  echo "fracatlas.sh: PRETRAIN='$PRETRAIN' is not SIZE:EPOCHS." >&2
  echo "fix: e.g. PRETRAIN=160:6 (six SimCLR epochs at 160 px), or leave it empty to train from random weights." >&2
  exit 2
fi
# Seconds per stage, for bench/results/fracatlas.json (the last step).
declare -A STAGE
LOAD="load average $(cut -d' ' -f1 /proc/loadavg) at the start"
stage() { local name=$1; shift; local t0=$SECONDS; "$@"; STAGE[$name]=$(( ${STAGE[$name]:-0} + SECONDS - t0 )); }

# The import caches every image at 320 px on the long side, or at SIZE where SIZE is larger (SIZE=512): a network
# never reads finer pixels than the cache holds. The split (seeded, by image) is the same at either size.
stage import hipfrac import "$FRACATLAS" --layout fracatlas --max-side "$(( SIZE > 320 ? SIZE : 320 ))" --out "$OUT/dataset"
[[ -f "$OUT/dataset/split.json" ]] || stage import hipfrac split "$OUT/dataset" --val 0.15 --test 0.15 --seed 42
WEIGHTS=()
if [[ -n "$PRETRAIN" ]]; then
  # A pretraining run that stopped before its end left no pretrain.json: it starts again.
  [[ -f "$OUT/pretrain/pretrain.json" ]] || { rm -rf "$OUT/pretrain"; stage pretrain hipfrac pretrain --data "$OUT/dataset" --arch "$ARCH" --out "$OUT/pretrain" \
    --input-size "${PRETRAIN%%:*}" --epochs "${PRETRAIN##*:}" --batch-size 64 --precision "$PRECISION" --seed "$SEED"; }
  WEIGHTS=(--weights "$OUT/pretrain/body.safetensors")
fi
stage train hipfrac train --device "$DEVICE" --data "$OUT/dataset" --out "$OUT/run" --arch "$ARCH" --scratch --input-size "$SIZE" \
  --unfrozen-epochs "$EPOCHS" --patience "$EPOCHS" $( [[ "$BALANCED" == 1 ]] && echo --balanced ) "${WEIGHTS[@]}" --no-lr-find --unfrozen-lr 2e-3 --seed "$SEED" \
  --box-loss-weight "$BOX_LOSS_WEIGHT" --box-peak-weight "$BOX_PEAK_WEIGHT" --box-head "$BOX_HEAD" --monitor "$MONITOR" --precision "$PRECISION" $( [[ -n "$PROGRESSIVE" ]] && echo --progressive "$PROGRESSIVE" ) $( [[ "$MASK_MARKERS" == 1 ]] && echo --mask-markers ) $( [[ "$AUGMENT" == 1 ]] || echo --no-augment ) \
  $( [[ -f "$OUT/run/train-state/state.json" ]] && echo --resume )
stage triage node scripts/fracatlas-eval.mjs "$OUT" "$FRACATLAS" > "$OUT/eval-summary.log"
stage explain hipfrac explain --device "$DEVICE" "$OUT/eval/fractured" --model "$OUT/run/model" --boxes "$OUT/eval/boxes.csv" --out "$OUT/eval/explain"
stage triage hipfrac triage-calibrate --device "$DEVICE" "$OUT/eval/valid" --model "$OUT/run/model" --labels "$OUT/eval/labels.csv" --method conformal-lac --alpha 0.1 --out "$OUT/eval/conformal.json"
stage audit hipfrac audit-shortcuts --device "$DEVICE" --model "$OUT/run/model" --data "$OUT/dataset" --out "$OUT/audit"
cat > "$OUT/timing.json" <<JSON
{"recipe": {"arch": "$ARCH", "inputSize": $SIZE, "epochs": $EPOCHS, "augment": $( [[ "$AUGMENT" == 1 ]] && echo true || echo false ), "balanced": $( [[ "$BALANCED" == 1 ]] && echo true || echo false ), "pretrain": "$PRETRAIN", "boxLossWeight": $BOX_LOSS_WEIGHT, "boxPeakWeight": $BOX_PEAK_WEIGHT, "boxHead": "$BOX_HEAD", "maskMarkers": $( [[ "$MASK_MARKERS" == 1 ]] && echo true || echo false ), "monitor": "$MONITOR", "precision": "$PRECISION", "progressive": "$PROGRESSIVE"},
 "seconds": {"import": ${STAGE[import]:-0}, "pretrain": ${STAGE[pretrain]:-0}, "train": ${STAGE[train]:-0}, "triage": ${STAGE[triage]:-0}, "explain": ${STAGE[explain]:-0}, "audit": ${STAGE[audit]:-0}},
 "load": "$LOAD", "device": "$DEVICE"}
JSON
node dist/bench/fracatlas.js --run "$OUT" $( [[ -n "${RESULT:-}" ]] && echo --out "$RESULT" )
echo "shortcut audit (test split): $OUT/audit/audit.md"
echo "report: $OUT/run/report.html (test figures); localisation (test fractures): $OUT/eval/explain/localisation.json; triage calibrated on validation, measured on test: $OUT/eval/summary.json"

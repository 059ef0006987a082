// After `hipfrac train` on FracAtlas (scripts/fracatlas.sh): lays out the validation and test images for the CLI
// (eval/valid/, eval/test/, eval/fractured/ — the test set's fractured images — as links to the shared originals,
// eval/labels.csv, eval/boxes.csv from FracAtlas's YOLO boxes) and measures the triage policies: calibrated on the
// validation predictions, measured on the test predictions (a policy measured on its own calibration data says
// nothing about new cases). Without a test set in the split it falls back to held-out halves of validation.
//   node scripts/fracatlas-eval.mjs RUN_ROOT FRACATLAS_DIR
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { binaryRows, calibrateConformal, calibrateCutoff, evaluateConformal, evaluateCutoff } from '../dist/src/triage/index.js';

const [root, fracatlas] = process.argv.slice(2);
if (root === undefined || fracatlas === undefined) {
  console.error('usage: node scripts/fracatlas-eval.mjs RUN_ROOT FRACATLAS_DIR');
  process.exit(2);
}
const datasetDir = path.join(root, 'dataset');
const evalDir = path.join(root, 'eval');
// The manifest is append-only: the last row of an id is the current one (as src/data reads it).
const manifest = [...new Map(readFileSync(path.join(datasetDir, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((r) => [r.id, r])).values()];
const split = JSON.parse(readFileSync(path.join(datasetDir, 'split.json'), 'utf8')).assignments;
const results = JSON.parse(readFileSync(path.join(root, 'run', 'results.json'), 'utf8'));

// FracAtlas labels.csv: image_id, …, fractured, …, yolo_boxes ("class cx cy w h;…", normalised).
const [headerLine, ...lines] = readFileSync(path.join(fracatlas, 'labels.csv'), 'utf8').trim().split(/\r?\n/);
const header = headerLine.split(',');
const col = (name) => header.indexOf(name);
const boxesOf = new Map();
for (const line of lines) {
  const f = line.split(',');
  boxesOf.set(f[col('image_id')], (f[col('yolo_boxes')] ?? '').split(';').filter((s) => s.trim() !== '').map((s) => s.trim().split(/\s+/).slice(1).map(Number)));
}

rmSync(evalDir, { recursive: true, force: true });
for (const d of ['valid', 'test', 'fractured']) mkdirSync(path.join(evalDir, d), { recursive: true });
const hasTest = Object.values(split).includes('test');
const boxSet = hasTest ? 'test' : 'val';
const labelRows = ['file,label'];
const boxRows = ['file,x0,y0,x1,y1'];
let fractured = 0;
for (const row of manifest) {
  const set = split[row.id];
  if ((set !== 'val' && set !== 'test') || row.label === null) continue;
  const name = path.basename(row.sourcePath);
  const source = path.resolve(fracatlas, row.sourcePath);
  if (!existsSync(source)) continue;
  const folder = set === 'val' ? 'valid' : 'test';
  symlinkSync(source, path.join(evalDir, folder, name));
  labelRows.push(`${folder}/${name},${row.label}`);
  const boxes = boxesOf.get(name) ?? [];
  if (set === boxSet && row.label === 1 && boxes.length > 0) {
    symlinkSync(source, path.join(evalDir, 'fractured', name));
    fractured++;
    for (const [cx, cy, w, h] of boxes) {
      const x0 = Math.max(0, Math.floor((cx - w / 2) * row.width));
      const y0 = Math.max(0, Math.floor((cy - h / 2) * row.height));
      const x1 = Math.min(row.width, Math.ceil((cx + w / 2) * row.width));
      const y1 = Math.min(row.height, Math.ceil((cy + h / 2) * row.height));
      if (x1 > x0 && y1 > y0) boxRows.push(`fractured/${name},${x0},${y0},${x1},${y1}`);
    }
  }
}
writeFileSync(path.join(evalDir, 'labels.csv'), `${labelRows.join('\n')}\n`);
writeFileSync(path.join(evalDir, 'boxes.csv'), `${boxRows.join('\n')}\n`);

// Calibrated on validation, measured on test (results.json: validation.predictions and predictions); without a
// test set, held-out halves of the validation predictions.
const preds = results.predictions;
const half = (k) => preds.filter((_, i) => i % 2 === k);
const [calib, test] = results.evaluatedOn === 'test' ? [results.validation.predictions, preds] : [half(0), half(1)];
const rows = (ps) => binaryRows(ps.map((p) => p.probability));
const labels = (ps) => ps.map((p) => p.label);
const summary = { evaluatedOn: results.evaluatedOn ?? 'validation', calibratedOn: results.evaluatedOn === 'test' ? 'validation' : 'even half of validation', fracturedWithBoxes: fractured, calibration: calib.length, test: test.length, policies: [] };
for (const alpha of [0.1, 0.05]) {
  for (const score of ['lac', 'aps']) {
    const calibration = calibrateConformal(rows(calib), labels(calib), { alpha, score });
    summary.policies.push({ policy: `conformal-${score}`, alpha, promised: 1 - alpha, ...evaluateConformal(rows(test), labels(test), calibration) });
  }
}
for (const target of [0.05, 0.1]) {
  const cut = calibrateCutoff(rows(calib), labels(calib), { targetError: target });
  const measured = Number.isFinite(cut.cutoff) && cut.cutoff <= 1 ? evaluateCutoff(rows(test), labels(test), cut.cutoff) : null;
  summary.policies.push({ policy: 'cutoff', targetError: target, cutoff: cut.cutoff, held_out: measured });
}
writeFileSync(path.join(evalDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log(JSON.stringify(summary, null, 2));

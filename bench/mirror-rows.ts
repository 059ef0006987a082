// Mirror averaging on the FracAtlas recipe rows (issue 16), decided on validation: each stored `scripts/fracatlas.sh`
// model run on the validation and test images as they are and mirrored left-right, the two logits averaged and the
// mirror's box-head map turned back and averaged with the plain one (bench/lib/tta.ts). The decision uses validation
// images only: the ROC-AUC on validation and a validation-only calibration error (the validation images partitioned
// 200 times into halves with as many fractures each, T and b fitted on one half, the top-label ECE scored on the other).
// Mirror averaging counts as better when both its mean over the rows is lower in that ECE and not lower in ROC-AUC.
// The test figures (ROC-AUC with the paired difference, ECE after the calibration fitted on all validation images,
// the ECE over partitions of validation and test pooled, the box head's pointing game) are reported beside it and
// choose nothing. The plain pass is checked against each run's stored test predictions first. Writes
// bench/results/mirror-rows.json and its section of docs/benchmarks.md.
//   node dist/bench/mirror-rows.js --data runs/fracatlas/dataset --rows bench/results/fracatlas.json,bench/results/fracatlas-seed1.json,...
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadManifest, type ManifestRow } from '../src/data/index.js';
import { localisationScores, resizeHeatmap, type Box } from '../src/explain/index.js';
import { pairedAucDifference, positiveClassProbabilities, rocAuc } from '../src/train/metrics/index.js';
import { repartitionedEce, scoreCalibration, validationOnlyEce, type EceDraws, type Labelled } from './lib/calibrationBias.js';
import { machineDescription, resultsPath, today, writeDocSection } from './lib/results.js';
import { AUC_GOAL, ECE_GOAL, PG_GOAL, readStored, runPredictions } from './lib/scriptRuns.js';
import { averaged, boxed, outputsOf, type Outputs, type SetName } from './lib/tta.js';

/** Stored test probabilities and the plain pass's calibrated ones may differ by this much (float32 and JSON rounding). */
const STORED_TOLERANCE = 1e-3;

/** The fracture margins (fracture logit minus normal logit) of 2-class logits, row-major. */
function margins(logits: Float32Array): Float64Array {
  const out = new Float64Array(logits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = (logits[2 * i + 1] as number) - (logits[2 * i] as number);
  return out;
}

interface Side {
  readonly valAuc: number;
  readonly valOnlyEce: EceDraws;
  readonly testAuc: number;
  readonly testEceAfter: number;
  readonly temperature: number;
  readonly bias: number;
  readonly repartitionedEce: EceDraws;
  /** Null for a model without a box head. */
  readonly boxHeadPointingGame: number | null;
}

function side(o: Record<SetName, Outputs>, labels: Record<SetName, number[]>, boxes: Box[][], grid: readonly [number, number], size: number): Side {
  const val: Labelled = { margins: margins(o.val.logits), labels: labels.val };
  const test: Labelled = { margins: margins(o.test.logits), labels: labels.test };
  const calibrated = scoreCalibration(val, test, true);
  const maps = o.test.maps.map((d) => resizeHeatmap({ width: grid[1], height: grid[0], data: d }, size, size));
  return {
    valAuc: rocAuc(positiveClassProbabilities(o.val.logits, 1), labels.val),
    valOnlyEce: validationOnlyEce(val, { goal: ECE_GOAL }),
    testAuc: rocAuc(positiveClassProbabilities(o.test.logits, 1), labels.test),
    testEceAfter: calibrated.ece,
    temperature: calibrated.temperature,
    bias: calibrated.bias,
    repartitionedEce: repartitionedEce(val, test, { goal: ECE_GOAL }),
    boxHeadPointingGame: grid[0] === 0 ? null : localisationScores(maps, boxes).pointingGame,
  };
}

const f3 = (v: number): string => v.toFixed(3);
const pct = (v: number): string => `${(100 * v).toFixed(1)} %`;
const mean = (xs: readonly number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: 'runs/fracatlas/dataset' },
      rows: { type: 'string', default: 'bench/results/fracatlas.json' },
    },
  });
  const files = values.rows.split(',').filter((f) => f !== '');
  const stored = files.map((file) => {
    const row = readStored(file);
    if (!existsSync(row.result.modelDir)) throw new Error(`${row.result.modelDir} (the model behind ${file}) is missing: run scripts/fracatlas.sh again with RESULT=${file}.`);
    return { file, row, run: runPredictions(file, row) };
  });
  const manifest = await loadManifest(values.data);
  const rows: Record<SetName, ManifestRow[]> = { val: manifest.filter((r) => r.split === 'val' && r.label !== null), test: manifest.filter((r) => r.split === 'test' && r.label !== null) };
  if (rows.test.length === 0) throw new Error(`${values.data} has no test split: split it with --test first.`);
  const labels = { val: rows.val.map((r) => r.label as number), test: rows.test.map((r) => r.label as number) };
  const results: { file: string; modelDir: string; seed: string | number | boolean; plain: Side; mirror: Side; testAucDifference: { estimate: number; lower: number; upper: number } }[] = [];
  for (const { file, row, run } of stored) {
    console.log(`${file}: plain and mirrored passes of ${row.result.modelDir}`);
    const out = await outputsOf(row.result.modelDir, values.data, rows);
    // The plain pass is the model the run stored: its calibrated test probabilities match results.json.
    const storedById = new Map(run.test.map((p) => [p.id, p.probability]));
    const plainTest = positiveClassProbabilities(out.plain.test.logits, run.temperature, 2, run.bias);
    rows.test.forEach((r, i) => {
      const want = storedById.get(r.id);
      if (want === undefined) throw new Error(`${file}: test image ${r.id} of ${values.data} is not among the run's test predictions: pass the dataset the run was trained on.`);
      if (Math.abs(want - (plainTest[i] as number)) > STORED_TOLERANCE) throw new Error(`${file}: the plain pass gives ${plainTest[i]} for ${r.id}, the run stored ${want}: the bench does not see the images as the run did.`);
    });
    const size = out.size;
    const boxes = rows.test.filter(boxed).map((r) => (r.boxes ?? []).map(([x0, y0, x1, y1]): Box => [x0 * size, y0 * size, x1 * size, y1 * size]));
    const plain = side(out.plain, labels, boxes, out.grid, size);
    const mirrored = averaged(out);
    const mirror = side(mirrored, labels, boxes, out.grid, size);
    const d = pairedAucDifference(positiveClassProbabilities(mirrored.test.logits, 1), positiveClassProbabilities(out.plain.test.logits, 1), labels.test, { seed: 0 });
    console.log(`  validation-only ECE ${f3(plain.valOnlyEce.median)} -> ${f3(mirror.valOnlyEce.median)}, val AUC ${f3(plain.valAuc)} -> ${f3(mirror.valAuc)}; test AUC ${f3(plain.testAuc)} -> ${f3(mirror.testAuc)}, test ECE ${f3(plain.testEceAfter)} -> ${f3(mirror.testEceAfter)}`);
    results.push({ file, modelDir: row.result.modelDir, seed: row.result.recipe.seed ?? 42, plain, mirror, testAucDifference: { estimate: d.estimate, lower: d.lower, upper: d.upper } });
  }
  const valEce = { plain: mean(results.map((r) => r.plain.valOnlyEce.median)), mirror: mean(results.map((r) => r.mirror.valOnlyEce.median)) };
  const valAuc = { plain: mean(results.map((r) => r.plain.valAuc)), mirror: mean(results.map((r) => r.mirror.valAuc)) };
  const better = valEce.mirror < valEce.plain && valAuc.mirror >= valAuc.plain;
  const meets = (s: Side): boolean => s.testAuc >= AUC_GOAL && (s.boxHeadPointingGame ?? 0) >= PG_GOAL && s.testEceAfter <= ECE_GOAL;
  const decision = {
    rule: 'mirror averaging is better when its mean validation-only ECE over the rows is lower and its mean validation ROC-AUC not lower',
    validationOnlyEce: valEce,
    validationAuc: valAuc,
    rowsWithLowerValidationEce: results.filter((r) => r.mirror.valOnlyEce.median < r.plain.valOnlyEce.median).length,
    mirrorBetter: better,
  };
  const json = {
    benchmark: 'mirror averaging on the FracAtlas recipe rows, decided on validation (issue 16)',
    data: 'FracAtlas, non-hip part (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0), imported with --max-side 320, split by image, stratified, seed 42',
    images: { val: rows.val.length, test: rows.test.length },
    machine: machineDescription(),
    date: today(),
    command: `node dist/bench/mirror-rows.js --data ${values.data} --rows ${values.rows}`,
    decision,
    meetingAllGoalsOnTest: { plain: results.filter((r) => meets(r.plain)).length, mirror: results.filter((r) => meets(r.mirror)).length, of: results.length },
    results,
  };
  writeFileSync(resultsPath('mirror-rows'), `${JSON.stringify(json, null, 2)}\n`);
  const arrow = (a: string, b: string): string => `${a} → ${b}`;
  const pgs = (kind: 'plain' | 'mirror'): number[] => results.flatMap((r) => (r[kind].boxHeadPointingGame === null ? [] : [r[kind].boxHeadPointingGame]));
  const table = [
    '| run | val ROC-AUC | validation-only ECE (median) | test ROC-AUC | paired difference [95 % CI] | test ECE after T and b | ECE over re-partitions (median) | box head PG, test |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${path.basename(r.file, '.json')} | ${arrow(f3(r.plain.valAuc), f3(r.mirror.valAuc))} | ${arrow(f3(r.plain.valOnlyEce.median), f3(r.mirror.valOnlyEce.median))} | ${arrow(f3(r.plain.testAuc), f3(r.mirror.testAuc))} | ${r.testAucDifference.estimate >= 0 ? '+' : ''}${f3(r.testAucDifference.estimate)} [${f3(r.testAucDifference.lower)}, ${f3(r.testAucDifference.upper)}] | ${arrow(f3(r.plain.testEceAfter), f3(r.mirror.testEceAfter))} | ${arrow(f3(r.plain.repartitionedEce.median), f3(r.mirror.repartitionedEce.median))} | ${r.plain.boxHeadPointingGame === null || r.mirror.boxHeadPointingGame === null ? '—' : arrow(pct(r.plain.boxHeadPointingGame), pct(r.mirror.boxHeadPointingGame))} |`,
    ),
    `| mean | ${arrow(f3(valAuc.plain), f3(valAuc.mirror))} | ${arrow(f3(valEce.plain), f3(valEce.mirror))} | ${arrow(f3(mean(results.map((r) => r.plain.testAuc))), f3(mean(results.map((r) => r.mirror.testAuc))))} | | ${arrow(f3(mean(results.map((r) => r.plain.testEceAfter))), f3(mean(results.map((r) => r.mirror.testEceAfter))))} | ${arrow(f3(mean(results.map((r) => r.plain.repartitionedEce.median))), f3(mean(results.map((r) => r.mirror.repartitionedEce.median))))} | ${arrow(pct(mean(pgs('plain'))), pct(mean(pgs('mirror'))))} (rows with a box head) |`,
  ].join('\n');
  const verdict = better
    ? `On validation, mirror averaging is better (validation-only ECE ${f3(valEce.plain)} → ${f3(valEce.mirror)}, lower on ${decision.rowsWithLowerValidationEce} of ${results.length} rows; validation ROC-AUC ${f3(valAuc.plain)} → ${f3(valAuc.mirror)}).`
    : `On validation, mirror averaging is not better (validation-only ECE ${f3(valEce.plain)} → ${f3(valEce.mirror)}, lower on ${decision.rowsWithLowerValidationEce} of ${results.length} rows; validation ROC-AUC ${f3(valAuc.plain)} → ${f3(valAuc.mirror)}).`;
  writeDocSection(
    'mirror-rows',
    `## Mirror averaging on the FracAtlas recipe rows (issue 16)\n\nEach stored \`scripts/fracatlas.sh\` model run on the ${rows.val.length} validation and ${rows.test.length} test images as they are and mirrored left-right, the two logits averaged and the mirror's box-head map turned back and averaged with the plain one ("plain → mirror-averaged"; the plain pass reproduces each run's stored test predictions). Decided on validation only: the validation ROC-AUC, and a validation-only ECE (the validation images partitioned 200 times into halves with as many fractures each, the temperature and bias fitted on one half, the top-label ECE over 15 bins scored on the other; median). Mirror averaging counts as better when its mean over the rows is lower in that ECE and not lower in ROC-AUC. ${verdict} The test columns choose nothing: ROC-AUC with the paired bootstrap difference (mirror − plain), ECE after the temperature and bias fitted on all validation images of the same kind, the median ECE over 200 partitions of validation and test pooled (as in the recipe rows), and the box head's pointing game on the test fractures with boxes. Rows meeting all three goals on test: ${json.meetingAllGoalsOnTest.plain} plain, ${json.meetingAllGoalsOnTest.mirror} mirror-averaged, of ${results.length}. ${json.machine}, ${json.date}; \`${json.command}\`; \`bench/results/mirror-rows.json\`.\n\n${table}`,
  );
  console.log(table);
  console.log(verdict);
}

await main();

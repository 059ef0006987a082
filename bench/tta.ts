// Mirror averaging on FracAtlas (issue 16): each stored box-head model of bench/boxhead.ts run on the validation and
// test images as they are and mirrored left-right, the two logits averaged and the mirror's box-head map turned back
// and averaged with the plain one. Per model and for their ensemble (the mean over the models): ROC-AUC on validation
// and test (test with a bootstrap interval, and the paired interval of mirror minus plain), the box head's pointing
// game on the fractured images with boxes of both sets, and the test ECE before and after the calibration `hipfrac
// train` fits (a temperature and a bias on the fracture logit) fitted on validation logits of the same kind. Nothing is chosen on test. Trains nothing: run bench/boxhead.ts first.
// Writes bench/results/tta.json and its section of docs/benchmarks.md.
//   node dist/bench/tta.js --data runs/fracatlas/dataset --runs runs/bh --variants fine-peak-6ep,fine-peak-aug-6ep,fine-peak-aug-8ep
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadManifest } from '../src/data/index.js';
import { localisationScores, resizeHeatmap, type Box } from '../src/explain/index.js';
import { bootstrapAuc, expectedCalibrationError, fitTemperature, pairedAucDifference, positiveClassProbabilities, rocAuc } from '../src/train/metrics/index.js';
import { averaged, boxed, meanOf, outputsOf, type ModelOutputs, type Outputs, type SetName } from './lib/tta.js';
import { machineDescription, resultsPath, today, writeDocSection } from './lib/results.js';

interface Scored {
  readonly valAuc: number;
  readonly testAuc: { estimate: number; lower: number; upper: number };
  readonly pointingGame: Record<SetName, { strict: number; tolerant: number }>;
  readonly temperature: number;
  readonly bias: number;
  readonly testEce: { before: number; after: number };
}

function scored(o: Record<SetName, Outputs>, labels: Record<SetName, Int32Array>, boxes: Record<SetName, Box[][]>, grid: readonly [number, number], size: number, tolerance: number): Scored {
  const pg = (set: SetName): { strict: number; tolerant: number } => {
    const maps = o[set].maps.map((d) => resizeHeatmap({ width: grid[1], height: grid[0], data: d }, size, size));
    return { strict: localisationScores(maps, boxes[set]).pointingGame, tolerant: localisationScores(maps, boxes[set], tolerance).pointingGame };
  };
  const fit = fitTemperature(o.val.logits, labels.val, { bias: true });
  const raw = positiveClassProbabilities(o.test.logits, 1);
  const auc = bootstrapAuc(raw, labels.test, { seed: 0 });
  return {
    valAuc: rocAuc(positiveClassProbabilities(o.val.logits, 1), labels.val),
    testAuc: { estimate: rocAuc(raw, labels.test), lower: auc.lower, upper: auc.upper },
    pointingGame: { val: pg('val'), test: pg('test') },
    temperature: fit.temperature,
    bias: fit.bias,
    testEce: { before: expectedCalibrationError(raw, labels.test).ece, after: expectedCalibrationError(positiveClassProbabilities(o.test.logits, fit.temperature, 2, fit.bias), labels.test).ece },
  };
}

const pct = (v: number): string => `${(100 * v).toFixed(1)} %`;
const f3 = (v: number): string => v.toFixed(3);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: 'runs/fracatlas/dataset' },
      runs: { type: 'string', default: 'runs/bh' },
      variants: { type: 'string', default: 'fine-peak-6ep,fine-peak-aug-6ep,fine-peak-aug-8ep' },
    },
  });
  const names = values.variants.split(',');
  for (const n of names) if (!existsSync(path.join(values.runs, n, 'model'))) throw new Error(`${values.runs}/${n}/model is missing: train it with bench/boxhead.ts --variants ${n} first.`);
  const manifest = await loadManifest(values.data);
  const rows = { val: manifest.filter((r) => r.split === 'val' && r.label !== null), test: manifest.filter((r) => r.split === 'test' && r.label !== null) };
  if (rows.test.length === 0) throw new Error(`${values.data} has no test split: split it with --test first.`);
  const labels = { val: Int32Array.from(rows.val, (r) => r.label as number), test: Int32Array.from(rows.test, (r) => r.label as number) };
  const models: { name: string; out: ModelOutputs }[] = [];
  for (const name of names) {
    console.log(`${name}: plain and mirrored passes`);
    models.push({ name, out: await outputsOf(path.join(values.runs, name, 'model'), values.data, rows, { requireBoxHead: true }) });
  }
  const size = (models[0] as (typeof models)[number]).out.size;
  if (models.some((m) => m.out.size !== size)) throw new Error('the models take different input sizes: compare models trained at one size.');
  const tolerance = Math.round((15 * size) / 224);
  // The fractured images with boxes, in the order outputsOf keeps their maps; boxes in the input's pixels.
  const inPixels = (set: SetName): Box[][] => rows[set].filter(boxed).map((r) => (r.boxes ?? []).map(([x0, y0, x1, y1]): Box => [x0 * size, y0 * size, x1 * size, y1 * size]));
  const boxes = { val: inPixels('val'), test: inPixels('test') };
  const entries = models.map(({ name, out }) => ({ name, grid: out.grid, plain: out.plain, mirror: averaged(out) }));
  // The ensemble: the models' mean logits and mean maps; only when every model's box head has the same grid.
  const grid = entries[0]?.grid as readonly [number, number];
  if (entries.length > 1 && entries.every((e) => e.grid[0] === grid[0] && e.grid[1] === grid[1])) {
    const mean = (kind: 'plain' | 'mirror'): Record<SetName, Outputs> => {
      const one = (set: SetName): Outputs => ({ logits: meanOf(entries.map((e) => e[kind][set].logits)), maps: entries[0]![kind][set].maps.map((_, i) => meanOf(entries.map((e) => e[kind][set].maps[i] as Float32Array))) });
      return { val: one('val'), test: one('test') };
    };
    entries.push({ name: `ensemble of ${entries.length}`, grid, plain: mean('plain'), mirror: mean('mirror') });
  }
  const results = entries.map((e) => {
    const plain = scored(e.plain, labels, boxes, e.grid, size, tolerance);
    const mirror = scored(e.mirror, labels, boxes, e.grid, size, tolerance);
    const gain = pairedAucDifference(positiveClassProbabilities(e.mirror.test.logits, 1), positiveClassProbabilities(e.plain.test.logits, 1), labels.test, { seed: 0 });
    console.log(`${e.name}: test AUC ${f3(plain.testAuc.estimate)} -> ${f3(mirror.testAuc.estimate)}, test pointing game ${pct(plain.pointingGame.test.strict)} -> ${pct(mirror.pointingGame.test.strict)}`);
    return { name: e.name, grid: e.grid, plain, mirror, testAucGain: { estimate: mirror.testAuc.estimate - plain.testAuc.estimate, lower: gain.lower, upper: gain.upper } };
  });
  const json = {
    benchmark: 'mirror averaging of the box-head models on FracAtlas (issue 16)',
    data: 'FracAtlas, non-hip part (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0), imported with --max-side 320, split by image, stratified, seed 42',
    models: `bench/boxhead.ts variants ${names.join(', ')} (stored in bench/results/boxhead.json)`,
    images: { val: rows.val.length, test: rows.test.length, valFracturedWithBoxes: boxes.val.length, testFracturedWithBoxes: boxes.test.length },
    tolerancePixels: tolerance,
    machine: machineDescription(),
    date: today(),
    command: `node dist/bench/tta.js --data ${values.data} --runs ${values.runs} --variants ${values.variants}`,
    results,
  };
  writeFileSync(resultsPath('tta'), `${JSON.stringify(json, null, 2)}\n`);
  const arrow = (a: string, b: string): string => `${a} → ${b}`;
  const table = [
    '| model | val ROC-AUC | test ROC-AUC [95 % CI] | test AUC gain [95 % CI] | box head PG, val | box head PG, test (15 px at 224) | test ECE after T and bias |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.name} | ${arrow(f3(r.plain.valAuc), f3(r.mirror.valAuc))} | ${f3(r.plain.testAuc.estimate)} → ${f3(r.mirror.testAuc.estimate)} [${f3(r.mirror.testAuc.lower)}, ${f3(r.mirror.testAuc.upper)}] | ${r.testAucGain.estimate >= 0 ? '+' : ''}${f3(r.testAucGain.estimate)} [${f3(r.testAucGain.lower)}, ${f3(r.testAucGain.upper)}] | ${arrow(pct(r.plain.pointingGame.val.strict), pct(r.mirror.pointingGame.val.strict))} | ${arrow(pct(r.plain.pointingGame.test.strict), pct(r.mirror.pointingGame.test.strict))} (${arrow(pct(r.plain.pointingGame.test.tolerant), pct(r.mirror.pointingGame.test.tolerant))}) | ${arrow(f3(r.plain.testEce.after), f3(r.mirror.testEce.after))} |`,
    ),
  ].join('\n');
  writeDocSection(
    'tta',
    `## Mirror averaging on FracAtlas (issue 16)\n\nEach model of the box head study run on the image and on its left-right mirror; the two logits averaged, the mirror's box-head map turned back and averaged with the plain one ("plain → mirror-averaged"). The ensemble averages the models' logits and maps. ${rows.val.length} validation and ${rows.test.length} test images (${boxes.val.length} and ${boxes.test.length} fractured with boxes for the pointing game); the temperature and the fracture-logit bias are fitted on validation logits of the same kind; the AUC gain's interval is a paired bootstrap on the test images. ${json.machine}, ${json.date}; \`${json.command}\`; \`bench/results/tta.json\`.\n\n${table}`,
  );
  console.log(table);
}

await main();

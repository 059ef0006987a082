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
import { cachedPngPath, decodeGrey, loadManifest, type ManifestRow } from '../src/data/index.js';
import { localisationScores, resizeHeatmap, type Box } from '../src/explain/index.js';
import { loadCheckpoint } from '../src/models/index.js';
import { noGrad, sigmoid, tensor, tidy } from '../src/torch/index.js';
import { bootstrapAuc, expectedCalibrationError, fitTemperature, pairedAucDifference, positiveClassProbabilities, rocAuc } from '../src/train/metrics/index.js';
import { meanOf, mirrorAveraged, mirrorColumns } from './lib/tta.js';
import { machineDescription, resultsPath, today, writeDocSection } from './lib/results.js';

type SetName = 'val' | 'test';
const SETS: readonly SetName[] = ['val', 'test'];

/** One model's outputs on one set: 2-class logits per image (row-major), box-head maps of the fractured images with boxes. */
interface Outputs {
  readonly logits: Float32Array;
  readonly maps: Float32Array[];
}
interface ModelOutputs {
  readonly size: number;
  readonly grid: readonly [number, number];
  readonly plain: Record<SetName, Outputs>;
  readonly mirror: Record<SetName, Outputs>;
}

const boxed = (r: ManifestRow): boolean => r.label === 1 && (r.boxes?.length ?? 0) > 0;

async function outputsOf(modelDir: string, data: string, rows: Record<SetName, ManifestRow[]>): Promise<ModelOutputs> {
  const { model, card } = loadCheckpoint(modelDir);
  if (model.boxHead === null) throw new Error(`${modelDir} has no box head: pass the box-head models of bench/boxhead.ts.`);
  const size = card.inputSize;
  let grid: [number, number] = [0, 0];
  const empty = (): Record<SetName, { logits: number[]; maps: Float32Array[] }> => ({ val: { logits: [], maps: [] }, test: { logits: [], maps: [] } });
  const plain = empty();
  const mirror = empty();
  try {
    for (const set of SETS) {
      for (let s = 0; s < rows[set].length; s += 16) {
        const part = rows[set].slice(s, s + 16);
        const planes = await Promise.all(part.map(async (r) => Float32Array.from(await decodeGrey(cachedPngPath(data, r), { width: size, height: size }, 'squish', null, {}), (v) => v / 65535)));
        for (const [views, mirrored] of [[plain, false], [mirror, true]] as const) {
          const x = new Float32Array(part.length * size * size);
          planes.forEach((p, i) => x.set(mirrored ? mirrorColumns(p, size, size) : p, i * size * size));
          tidy(() => {
            const out = noGrad(() => model.forwardWithHeatmap(tensor(x, [part.length, 1, size, size])));
            const heat = sigmoid(out.heatmap);
            const [n, , h, w] = heat.shape as [number, number, number, number];
            grid = [h, w];
            views[set].logits.push(...out.logits.toFloat32Array());
            const all = heat.toFloat32Array();
            for (let i = 0; i < n; i++) if (boxed(part[i] as ManifestRow)) views[set].maps.push(all.slice(i * h * w, (i + 1) * h * w));
          });
        }
      }
    }
  } finally {
    model.dispose();
  }
  const done = (v: ReturnType<typeof empty>): Record<SetName, Outputs> => ({ val: { logits: Float32Array.from(v.val.logits), maps: v.val.maps }, test: { logits: Float32Array.from(v.test.logits), maps: v.test.maps } });
  return { size, grid, plain: done(plain), mirror: done(mirror) };
}

/** The mirror-averaged outputs: mean logits, and each mirror map turned back and averaged with the plain one. */
function averaged(m: ModelOutputs): Record<SetName, Outputs> {
  const [h, w] = m.grid;
  const one = (set: SetName): Outputs => ({ logits: meanOf([m.plain[set].logits, m.mirror[set].logits]), maps: m.plain[set].maps.map((p, i) => mirrorAveraged(p, m.mirror[set].maps[i] as Float32Array, w, h)) });
  return { val: one('val'), test: one('test') };
}

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
    models.push({ name, out: await outputsOf(path.join(values.runs, name, 'model'), values.data, rows) });
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

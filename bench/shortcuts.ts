// Does --mask-markers take a burned-in shortcut away? A phantom cohort is given a planted shortcut: on training and
// validation images a bright "F" glyph is burned into a corner of most fractured images (and a few intact ones); on
// test images the glyph is drawn on half of the images whatever their label. The same ResNet-18 is trained twice with
// the same seed, without and with marker masking, and `auditShortcuts` measures both on the test images (AUC, AUC with
// markers masked, marker-presence probe). There is no peer. Writes bench/results/shortcuts.json and its section of
// docs/benchmarks.md. Run: node dist/bench/shortcuts.js [--patients 80] [--epochs 5] [--input 64]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { auditShortcuts, type ShortcutAudit } from '../src/audit/index.js';
import { cachedPngPath, decodeGrey, defaultAugmentConfig, ImageLoader, importDataset, loadManifest, readManifestRows, splitByPatient, splitPath, writeGreyPng, writeJsonAtomic, type ManifestRow, type Sample } from '../src/data/index.js';
import { createClassifier, makeModelCard } from '../src/models/index.js';
import { AdamW } from '../src/nn/index.js';
import { cohortLabelSpec, generateCohort } from '../src/phantom/index.js';
import { defaultThreadCount, manualSeed, setNumThreads, type Tensor } from '../src/torch/index.js';
import { Learner } from '../src/train/index.js';
import { loadNote, machineDescription, writeDocSection } from './lib/results.js';

const { values } = parseArgs({ options: { patients: { type: 'string', default: '80' }, epochs: { type: 'string', default: '5' }, input: { type: 'string', default: '64' }, seed: { type: 'string', default: '1' }, out: { type: 'string', default: 'bench/results/shortcuts.json' } } });
const PATIENTS = Number(values.patients);
const EPOCHS = Number(values.epochs);
const INPUT = Number(values.input);
const SEED = Number(values.seed);
const SIZE = 128;
setNumThreads(defaultThreadCount());

/** A seeded coin (mulberry32). */
function coins(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Burns an "F" (2 px strokes, 14 px tall at 128 px) into the top-left corner of a cached image. */
async function burnGlyph(file: string): Promise<void> {
  const px = await decodeGrey(file, { width: SIZE, height: SIZE }, 'squish', null);
  const plane = Float32Array.from(px, (v) => v / 65535);
  const set = (x: number, y: number): void => void (plane[y * SIZE + x] = 1);
  for (let y = 8; y < 22; y++) for (let x = 8; x < 10; x++) set(x, y);
  for (let x = 8; x < 17; x++) for (let y = 8; y < 10; y++) set(x, y);
  for (let x = 8; x < 15; x++) for (let y = 14; y < 16; y++) set(x, y);
  await writeGreyPng(file, plane, SIZE, SIZE);
}

async function train(dataset: string, rows: readonly ManifestRow[], maskMarkers: boolean): Promise<ShortcutAudit> {
  const samples = (split: string): Sample[] => rows.filter((r) => r.split === split).map((r) => ({ imagePath: cachedPngPath(dataset, r), label: r.label as number }));
  manualSeed(SEED);
  const model = createClassifier('resnet18', { weights: null, head: 'linear' });
  const trainLoader = new ImageLoader(samples('train'), { batchSize: 16, imageSize: INPUT, workers: 2, dropLast: true, seed: SEED, augment: defaultAugmentConfig, maskMarkers });
  const validLoader = new ImageLoader(samples('val'), { batchSize: 16, imageSize: INPUT, workers: 2, shuffle: false });
  try {
    const learner = new Learner({ model, train: trainLoader, valid: validLoader, optimizer: (groups: Tensor[][]) => new AdamW(groups.filter((g) => g.length > 0).map((g) => ({ params: g })), { lr: 2e-3 }), seed: SEED });
    await learner.fitOneCycle(EPOCHS, 2e-3);
  } finally {
    await trainLoader.close();
    await validLoader.close();
  }
  model.eval();
  try {
    return await auditShortcuts({ datasetDir: dataset, model, card: makeModelCard(model, { classes: ['no fracture', 'fracture'], inputSize: INPUT }), seed: SEED, log: (l) => process.stderr.write(`${l}\n`) });
  } finally {
    model.dispose();
  }
}

const work = mkdtempSync(join(tmpdir(), 'hipfrac-bench-shortcuts-'));
const load = loadNote();
const t0 = Date.now();
try {
  await generateCohort({ out: join(work, 'cohort'), patients: PATIENTS, seed: SEED, difficulty: 'standard', size: SIZE, workers: 2 });
  const dataset = join(work, 'dataset');
  await importDataset({ inputDir: join(work, 'cohort', 'images'), outDir: dataset, labels: cohortLabelSpec(join(work, 'cohort')), saltFile: join(work, 'salt.key'), workers: 2 });
  await writeJsonAtomic(splitPath(dataset), splitByPatient(await readManifestRows(dataset), { valFraction: 0.15, testFraction: 0.3, seed: SEED }));
  const rows = (await loadManifest(dataset)).filter((r) => r.label !== null);
  const coin = coins(SEED);
  // The planted shortcut: P(glyph | fracture) = 0.9, P(glyph | intact) = 0.1 on training and validation images;
  // 0.5 for either on test images, so a model that reads the glyph gains nothing there.
  let burned = 0;
  for (const r of rows) {
    const p = r.split === 'test' ? 0.5 : r.label === 1 ? 0.9 : 0.1;
    if (coin() < p) {
      await burnGlyph(cachedPngPath(dataset, r));
      burned++;
    }
  }
  const plain = await train(dataset, rows, false);
  const masked = await train(dataset, rows, true);
  const summary = (a: ShortcutAudit): Record<string, number> => ({
    auc: a.masking.auc,
    aucMarkersMasked: a.masking.aucMasked,
    aucChange: a.masking.aucChange,
    meanAbsProbabilityChange: a.masking.meanAbsProbabilityChange,
    markerProbeAccuracy: a.probes.find((p) => p.label === 'markers')?.accuracy ?? Number.NaN,
    markerProbeMajority: a.probes.find((p) => p.label === 'markers')?.majorityBaseline ?? Number.NaN,
  });
  const result = {
    benchmark: 'marker masking against a planted burned-in shortcut (phantom)',
    dataset: `phantom cohort, ${PATIENTS} patients, seed ${SEED}, difficulty standard, ${SIZE} px; an "F" glyph burned into ${burned} of ${rows.length} images (train/validation: 90 % of fractured, 10 % of intact; test: 50 % of all)`,
    split: `by patient: ${rows.filter((r) => r.split === 'train').length} train, ${rows.filter((r) => r.split === 'val').length} validation, ${plain.images} test images (every figure on test)`,
    config: { arch: 'resnet18 from scratch, linear head', inputSize: INPUT, epochs: EPOCHS, optimizer: 'AdamW one-cycle 2e-3', augment: 'fastai defaults' },
    withoutMasking: summary(plain),
    withMaskMarkers: summary(masked),
    seconds: (Date.now() - t0) / 1000,
    machine: machineDescription(),
    load,
    date: new Date().toISOString(),
    command: `node dist/bench/shortcuts.js --patients ${PATIENTS} --epochs ${EPOCHS} --input ${INPUT} --seed ${SEED}`,
  };
  writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
  const f = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3));
  const row = (name: string, s: Record<string, number>): string => `| ${name} | ${f(s['auc'])} | ${f(s['aucMarkersMasked'])} | ${f(s['aucChange'])} | ${f(s['markerProbeAccuracy'])} (majority ${f(s['markerProbeMajority'])}) |`;
  writeDocSection(
    'shortcuts',
    [
      '## Marker masking against a planted shortcut',
      '',
      `${result.dataset}. ${result.split}. ResNet-18 from scratch at ${INPUT} px, ${EPOCHS} epochs, the same seed for both rows. ${machineDescription()}, ${result.date.slice(0, 10)}; \`${result.command}\`; \`bench/results/shortcuts.json\`.`,
      '',
      '| training | test AUC | test AUC, markers masked | change | marker-presence probe |',
      '| --- | ---: | ---: | ---: | --- |',
      row('as is', result.withoutMasking),
      row('--mask-markers', result.withMaskMarkers),
    ].join('\n'),
  );
  console.log(JSON.stringify({ withoutMasking: result.withoutMasking, withMaskMarkers: result.withMaskMarkers }, null, 1));
} finally {
  rmSync(work, { recursive: true, force: true });
}

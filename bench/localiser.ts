// Hip localiser accuracy: a phantom cohort (standard difficulty) imported with its hip_roi_* regions, split by
// patient with a held-out test set, the localiser trained on the training + validation patients, then IoU of the
// predicted against the true hip region on the held-out patients' images. There is no peer. Adds its entry to
// bench/results/localiser.json (bench/localiser-auc.ts adds the classifier's AUC with these regions).
// Run: node dist/bench/localiser.js [--patients 400] [--size 192] [--epochs 80] [--input 96]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cachedPngPath, importDataset, readManifestRows, splitByPatient, type ManifestRow, type RegionOfInterest } from '../src/data/index.js';
import { iou, isBilateralView, LOCALISER_DEFAULTS, localiseFiles, trainLocaliser } from '../src/localise/index.js';
import { cohortLabelSpec, generateCohort } from '../src/phantom/index.js';
import { loadNote, machineDescription, writeResults } from './lib/results.js';

// The defaults measure what `train` fits (LOCALISER_DEFAULTS) on 400 patients' phantom images.
const { values } = parseArgs({ options: { patients: { type: 'string', default: '400' }, size: { type: 'string', default: '192' }, epochs: { type: 'string', default: String(LOCALISER_DEFAULTS.epochs) }, input: { type: 'string', default: String(LOCALISER_DEFAULTS.inputSize) }, seed: { type: 'string', default: '1' } } });
const PATIENTS = Number(values.patients);
const SIZE = Number(values.size);
const EPOCHS = Number(values.epochs);
const INPUT = Number(values.input);
const SEED = Number(values.seed);

const work = mkdtempSync(join(tmpdir(), 'hipfrac-bench-localiser-'));
const load = loadNote();
const t0 = Date.now();
try {
  await generateCohort({ out: join(work, 'cohort'), patients: PATIENTS, seed: SEED, difficulty: 'standard', size: SIZE, workers: 2 });
  const dataset = join(work, 'dataset');
  await importDataset({ inputDir: join(work, 'cohort', 'images'), outDir: dataset, labels: cohortLabelSpec(join(work, 'cohort')), saltFile: join(work, 'salt.key'), workers: 2 });
  const rows = (await readManifestRows(dataset)).filter((r): r is ManifestRow & { roi: RegionOfInterest } => r.roi !== undefined && r.roi !== null);
  const split = splitByPatient(rows, { valFraction: 0.15, testFraction: 0.2, seed: SEED });
  const fit = rows.filter((r) => split.assignments[r.id] !== 'test');
  const test = rows.filter((r) => split.assignments[r.id] === 'test');
  const { net, losses } = await trainLocaliser(fit.map((r) => ({ imagePath: cachedPngPath(dataset, r), roi: r.roi })), { inputSize: INPUT, epochs: EPOCHS, seed: SEED, workers: 2, log: (l) => process.stderr.write(`${l}\n`) });
  const predicted = await localiseFiles(net, test.map((r) => cachedPngPath(dataset, r)), 2, test);
  const headerIous = test.map((r, i) => iou(predicted[i] as RegionOfInterest, r.roi));
  const ious = [...headerIous].sort((a, b) => a - b);
  // Without the header's laterality the network's side logits choose (an AP pelvis shows both hips: a coin toss there).
  const blind = await localiseFiles(net, test.map((r) => cachedPngPath(dataset, r)), 2);
  const blindIous = test.map((r, i) => iou(blind[i] as RegionOfInterest, r.roi)).sort((a, b) => a - b);
  // With the hip asked about named (the slot of the true region): how well the region is placed once the side is known.
  const named = await localiseFiles(net, test.map((r) => cachedPngPath(dataset, r)), 2, test.map((r) => ({ view: 'AP', laterality: (r.roi[0] + r.roi[2]) / 2 < 0.5 ? 'R' : 'L' })));
  const namedByImage = test.map((r, i) => iou(named[i] as RegionOfInterest, r.roi));
  const namedIous = [...namedByImage].sort((a, b) => a - b);
  // The crops predict classifies: the header's side, or for a view the header calls bilateral (AP, laterality B) both
  // hips, the more suspicious deciding; so there the true hip's crop is always among them, placed as with the hip named.
  const usedIous = test.map((r, i) => (isBilateralView(r) ? namedByImage[i] : headerIous[i]) as number).sort((a, b) => a - b);
  const bilateral = test.filter((r) => isBilateralView(r)).length;
  const byView = Object.fromEntries([...new Set(test.map((r) => r.view))].map((v) => {
    const of = test.map((r, i) => [r, i] as const).filter(([r]) => (r.view) === v).map(([r, i]) => iou(predicted[i] as RegionOfInterest, r.roi)).sort((a, b) => a - b);
    return [v, { median: of[Math.floor((of.length - 1) / 2)], n: of.length }];
  }));
  const at = (q: number): number => ious[Math.min(ious.length - 1, Math.floor(q * ious.length))] as number;
  const result = {
    benchmark: 'hip localiser IoU on held-out phantom patients',
    dataset: `phantom cohort, ${PATIENTS} patients, seed ${SEED}, difficulty standard, ${SIZE} px`,
    split: `by patient: ${fit.length} images (train + validation patients) to train, ${test.length} images of ${new Set(test.map((r) => r.patientKey)).size} held-out test patients to measure`,
    config: { inputSize: INPUT, epochs: EPOCHS, optimizer: 'Adam 2e-3, cosine to 1e-4', loss: 'L1 on centre and size of the image side\'s region + 0.05 × side cross-entropy', network: 'LocaliserNet (5 stride-2 conv stages, flattened, linear; one region per hip and side logits)' },
    iou: { median: at(0.5), mean: ious.reduce((a, b) => a + b, 0) / ious.length, p10: at(0.1), p90: at(0.9), atLeast05: ious.filter((v) => v >= 0.5).length / ious.length, atLeast08: ious.filter((v) => v >= 0.8).length / ious.length, n: ious.length },
    sideFrom: 'the DICOM header (Image Laterality / Laterality), as predict and serve read it',
    byView,
    asClassified: { median: usedIous[Math.floor((usedIous.length - 1) / 2)], atLeast08: usedIous.filter((v) => v >= 0.8).length / usedIous.length, n: usedIous.length, bilateral, note: 'the crops predict classifies: the header\'s side; both hips of a bilateral view (the true hip\'s region)' },
    hipNamed: { median: namedIous[Math.floor((namedIous.length - 1) / 2)], atLeast08: namedIous.filter((v) => v >= 0.8).length / namedIous.length, n: namedIous.length },
    withoutSide: { median: blindIous[Math.floor((blindIous.length - 1) / 2)], atLeast05: blindIous.filter((v) => v >= 0.5).length / blindIous.length, n: blindIous.length },
    goal: 'median IoU ≥ 0.8 (issue 16)',
    finalTrainL1: losses.at(-1),
    seconds: (Date.now() - t0) / 1000,
    machine: machineDescription(),
    load,
    date: new Date().toISOString(),
    command: `node dist/bench/localiser.js --patients ${PATIENTS} --size ${SIZE} --epochs ${EPOCHS} --input ${INPUT} --seed ${SEED}`,
  };
  writeResults('localiser', [result]);
  console.log(`median IoU ${result.iou.median.toFixed(3)} (mean ${result.iou.mean.toFixed(3)}, ${(100 * result.iou.atLeast08).toFixed(0)} % ≥ 0.8) on ${ious.length} held-out images; as classified ${result.asClassified.median?.toFixed(3)}, hip named ${result.hipNamed.median?.toFixed(3)}; bench/results/localiser.json`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

// What the hip localiser costs the classifier: a phantom cohort (easy difficulty by default) imported with its hip_roi_*
// regions and split by patient with a held-out test set, one crop classifier trained as `hipfrac train --crop roi`
// does it (with its hip localiser), then ROC-AUC on the held-out test patients' DICOM files read as predict reads
// them: (a) cut to the true regions (the --rois override), (b) cut to the localiser's regions (the default: both
// hips of a bilateral view classified, the more suspicious kept), (b'') the localiser's favoured hip only,
// (c) whole, uncropped (a reference); as a diagnosis, (b') cut to the localiser's regions with the hip named (the
// slot of the true region). 95 % intervals and the paired differences by a bootstrap over test patients.
// There is no peer. Adds its entry to bench/results/localiser.json and writes its section of docs/benchmarks.md.
// Run: node dist/bench/localiser-auc.js [--patients 200] [--size 256] [--input 96] [--epochs 8] [--localiser-epochs 20]
// [--difficulty easy] [--lr 3e-4]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importDataset, modelInput, radiographReader, readManifestRows, splitByPatient, splitPath, writeJsonAtomic, type ManifestRow, type Radiograph, type RegionOfInterest } from '../src/data/index.js';
import { checkpointLocator, classifierCropScorer, iou } from '../src/localise/index.js';
import { loadCheckpoint, type Classifier } from '../src/models/index.js';
import { cohortLabelSpec, generateCohort } from '../src/phantom/index.js';
import { defaultThreadCount, noGrad, setNumThreads, softmax, tidy } from '../src/torch/index.js';
import { resolveConfig } from '../src/train/index.js';
import { bootstrapAuc, pairedAucDifference, rocAuc, type AucInterval } from '../src/train/metrics/index.js';
import { trainRun } from '../src/cli/pipeline/index.js';
import { loadNote, machineDescription, writeDocSection, writeResults } from './lib/results.js';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '200' },
    size: { type: 'string', default: '256' },
    input: { type: 'string', default: '96' },
    epochs: { type: 'string', default: '8' },
    'localiser-epochs': { type: 'string', default: '20' },
    resamples: { type: 'string', default: '2000' },
    difficulty: { type: 'string', default: 'easy' },
    lr: { type: 'string', default: '3e-4' },
    seed: { type: 'string', default: '1' },
  },
});
const PATIENTS = Number(values.patients);
const SIZE = Number(values.size);
const INPUT = Number(values.input);
const EPOCHS = Number(values.epochs);
const LOCALISER_EPOCHS = Number(values['localiser-epochs']);
const RESAMPLES = Number(values.resamples);
const SEED = Number(values.seed);
const LR = Number(values.lr);
const DIFFICULTY = values.difficulty as 'easy' | 'standard' | 'hard';
if (!['easy', 'standard', 'hard'].includes(DIFFICULTY)) throw new Error(`bench: --difficulty must be easy, standard or hard, got ${DIFFICULTY}`);
setNumThreads(defaultThreadCount());

/** P(fracture) for each file, read one at a time by `read` (predict's reader), in batches of 16 through the model. */
async function fractureProbabilities(model: Classifier, inputSize: number, files: readonly string[], read: (file: string) => Promise<Radiograph>): Promise<Float64Array> {
  const out = new Float64Array(files.length);
  for (let start = 0; start < files.length; start += 16) {
    const batch: Radiograph[] = [];
    // One at a time, so a recording locator sees the files in order.
    for (const file of files.slice(start, start + 16)) batch.push(await read(file));
    const probs = tidy(() => noGrad(() => softmax(model.call(modelInput(batch, inputSize)), 1)).toFloat32Array());
    const classes = probs.length / batch.length;
    batch.forEach((_, i) => (out[start + i] = probs[i * classes + classes - 1] as number));
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), 'hipfrac-bench-localiser-auc-'));
const load = loadNote();
const t0 = Date.now();
const log = (line: string): void => void process.stderr.write(`${line}\n`);
try {
  const cohort = join(work, 'cohort');
  await generateCohort({ out: cohort, patients: PATIENTS, seed: SEED, difficulty: DIFFICULTY, size: SIZE, workers: 2 });
  const dataset = join(work, 'dataset');
  await importDataset({ inputDir: join(cohort, 'images'), outDir: dataset, labels: cohortLabelSpec(cohort), saltFile: join(work, 'salt.key'), workers: 2 });
  // As `hipfrac split --test 0.2 --val-fraction 0.15`.
  await writeJsonAtomic(splitPath(dataset), splitByPatient(await readManifestRows(dataset), { valFraction: 0.15, testFraction: 0.2, seed: SEED }));
  // As `hipfrac train --arch resnet18 --scratch --head linear --crop roi --input-size INPUT --batch-size 16
  // --unfrozen-epochs EPOCHS --no-lr-find --lr LR --unfrozen-lr LR --optimizer adam --no-augment --seed SEED` with
  // weight decay 0 (from scratch: no frozen stage, one LR). In a trial (160 patients, standard difficulty, 64 px) AdamW
  // 2e-3 with the fastai augmentation never brought the training loss below chance in 8 epochs; this setting learns
  // in a few minutes, but on exact regions only, which makes the model sensitive to where a predicted region sits.
  const config = resolveConfig({ arch: 'resnet18', pretrained: false, frozenEpochs: 0, lrMult: 1, head: 'linear', crop: 'roi', inputSize: INPUT, batchSize: 16, unfrozenEpochs: EPOCHS, lrFind: false, lr: LR, unfrozenLr: LR, optimizer: 'adam', weightDecay: 0, augment: false, seed: SEED }, 'bench/localiser-auc.ts');
  const run = await trainRun({ datasetDir: dataset, outDir: join(work, 'run'), config, resume: false, workers: 2, localiserEpochs: LOCALISER_EPOCHS, log });
  const trainEvaluationAuc = rocAuc(run.evaluation.probs, run.evaluation.labels);
  const test = run.testRows as (ManifestRow & { roi: RegionOfInterest })[];
  run.model.dispose();

  // Predict's own pieces: the checkpoint as `predict --model` loads it, radiographReader with --rois (the phantom's
  // labels.csv, pixels), with the checkpoint's localiser, and for an uncropped model card.
  const { model, card } = loadCheckpoint(run.checkpointDir);
  model.eval();
  const files = test.map((r) => join(cohort, 'images', r.sourcePath));
  const labels = test.map((r) => r.label as number);
  const clusters = test.map((r) => r.patientKey);
  const locate = checkpointLocator(run.checkpointDir);
  if (locate === undefined) throw new Error('bench: the crop model was trained without a hip localiser');
  // The localiser's favoured region per image (its first), and every region it gives (both hips of a bilateral view).
  const predictedRegions: RegionOfInterest[] = [];
  const regionsGiven: RegionOfInterest[][] = [];
  const recording: typeof locate = (image, known) => {
    const regions = locate(image, known);
    predictedRegions.push(regions[0] as RegionOfInterest);
    regionsGiven.push(regions);
    return regions;
  };
  const favouredOnly: typeof locate = (image, known) => locate(image, known).slice(0, 1);
  const trueP = await fractureProbabilities(model, card.inputSize, files, radiographReader(card, join(cohort, 'labels.csv')));
  // (b) predict's path: the localiser's region, and for a bilateral view both hips with the more suspicious kept.
  const kept: Radiograph[] = [];
  const predictRead = radiographReader(card, undefined, recording, classifierCropScorer(model, card.inputSize));
  const predictedP = await fractureProbabilities(model, card.inputSize, files, async (file) => {
    const r = await predictRead(file);
    kept.push(r);
    return r;
  });
  // (b'') the localiser's favoured hip only, as predict read bilateral views before both hips were classified.
  const favouredP = await fractureProbabilities(model, card.inputSize, files, radiographReader(card, undefined, favouredOnly));
  // A diagnosis, not predict's path: the localiser told which hip is meant (the slot of the true region), so what
  // remains is how well it places the region once the side is known.
  let next = 0;
  const named: typeof locate = (image) => {
    const roi = (test[next++] as (typeof test)[number]).roi;
    return locate(image, { view: 'AP', laterality: (roi[0] + roi[2]) / 2 < 0.5 ? 'R' : 'L' }).slice(0, 1);
  };
  const namedP = await fractureProbabilities(model, card.inputSize, files, radiographReader(card, undefined, named));
  const wholeP = await fractureProbabilities(model, card.inputSize, files, radiographReader({ ...card, crop: 'none' }, undefined));
  model.dispose();

  const options = { resamples: RESAMPLES, seed: SEED, clusters };
  const round = (i: AucInterval): AucInterval => ({ estimate: +i.estimate.toFixed(4), lower: +i.lower.toFixed(4), upper: +i.upper.toFixed(4), definedResamples: i.definedResamples });
  const ious = test.map((r, i) => iou(predictedRegions[i] as RegionOfInterest, r.roi));
  // The hip predict kept: of two regions, the one whose crop starts where the kept radiograph's does.
  const keptIous = test.map((r, i) => {
    const given = regionsGiven[i] as RegionOfInterest[];
    const hips = kept[i]?.hips;
    const k = hips === undefined ? 0 : hips.findIndex((h) => h.origin[0] === kept[i]?.origin?.[0] && h.origin[1] === kept[i]?.origin?.[1]);
    return iou(given[Math.max(0, k)] as RegionOfInterest, r.roi);
  });
  const bilateral = test.map((_, i) => (regionsGiven[i]?.length ?? 1) > 1);
  // Where the localiser missed: AUC and the mean probability change on images by IoU.
  const subset = (keep: (i: number) => boolean): { n: number; fractured: number; aucTrue: number; aucPredicted: number; meanAbsProbabilityChange: number } => {
    const idx = test.map((_, i) => i).filter(keep);
    const y = idx.map((i) => labels[i] as number);
    const both = y.includes(0) && y.includes(1);
    return {
      n: idx.length,
      fractured: y.filter((v) => v === 1).length,
      aucTrue: both ? +rocAuc(idx.map((i) => trueP[i] as number), y).toFixed(4) : Number.NaN,
      aucPredicted: both ? +rocAuc(idx.map((i) => predictedP[i] as number), y).toFixed(4) : Number.NaN,
      meanAbsProbabilityChange: +(idx.reduce((s, i) => s + Math.abs((trueP[i] as number) - (predictedP[i] as number)), 0) / Math.max(1, idx.length)).toFixed(4),
    };
  };
  const sortedIous = [...ious].sort((a, b) => a - b);
  const result = {
    benchmark: 'classifier AUC with the localiser\'s against the true hip regions (held-out phantom patients)',
    dataset: `phantom cohort, ${PATIENTS} patients, seed ${SEED}, difficulty ${DIFFICULTY}, ${SIZE} px DICOM`,
    split: `by patient (validation 15 %, test 20 %, seed ${SEED}): ${run.trainRows.length} train, ${run.validRows.length} validation images; measured on ${test.length} images (${labels.filter((v) => v === 1).length} fractured) of ${new Set(clusters).size} held-out test patients`,
    config: {
      classifier: `resnet18 from scratch, linear head, --crop roi, ${INPUT} px, batch 16, up to ${EPOCHS} epochs (Adam one-cycle ${LR}, no weight decay, no augmentation, best validation accuracy kept)`,
      localiser: `LocaliserNet as train fits it: ${LOCALISER_EPOCHS} epochs on the training images, 128 px`,
      read: 'the test DICOM files through radiographReader, as predict reads them; LibTorch forward, softmax P(fracture)',
      bootstrap: `${RESAMPLES} resamples of test patients (all of a patient's images together), seed ${SEED}, percentile 95 %`,
    },
    auc: { trueRegions: round(bootstrapAuc(trueP, labels, options)), predictedRegions: round(bootstrapAuc(predictedP, labels, options)), predictedFavouredHipOnly: round(bootstrapAuc(favouredP, labels, options)), wholeImage: round(bootstrapAuc(wholeP, labels, options)), predictedHipNamed: round(bootstrapAuc(namedP, labels, options)) },
    difference: {
      trueMinusPredicted: round(pairedAucDifference(trueP, predictedP, labels, options)),
      bothHipsMinusFavouredOnly: round(pairedAucDifference(predictedP, favouredP, labels, options)),
      trueMinusPredictedHipNamed: round(pairedAucDifference(trueP, namedP, labels, options)),
      trueMinusWhole: round(pairedAucDifference(trueP, wholeP, labels, options)),
    },
    localiserIou: { median: +(sortedIous[Math.floor((sortedIous.length - 1) / 2)] as number).toFixed(4), atLeast05: +(ious.filter((v) => v >= 0.5).length / ious.length).toFixed(4), n: ious.length },
    byIou: { below05: subset((i) => (ious[i] as number) < 0.5), atLeast05: subset((i) => (ious[i] as number) >= 0.5) },
    // Bilateral views (header laterality B on an AP view): both hips classified, the more suspicious kept.
    bilateral: {
      images: bilateral.filter(Boolean).length,
      keptTrueHip: bilateral.filter((b, i) => b && (keptIous[i] as number) >= 0.5).length,
      favouredTrueHip: bilateral.filter((b, i) => b && (ious[i] as number) >= 0.5).length,
    },
    // Which images the localiser missed (IoU < 0.5), by the header's view and laterality: "misses of images".
    missesByHeader: Object.fromEntries([...new Set(test.map((r) => `${r.view} ${r.laterality ?? 'none'}`))].sort().map((k) => {
      const of = test.map((r, i) => [r, i] as const).filter(([r]) => `${r.view} ${r.laterality ?? 'none'}` === k);
      return [k, `${of.filter(([, i]) => (ious[i] as number) < 0.5).length} of ${of.length}`];
    })),
    byView: Object.fromEntries([...new Set(test.map((r) => r.view))].map((v) => [v, subset((i) => test[i]?.view === v)])),
    trainEvaluationAuc: +trainEvaluationAuc.toFixed(4),
    trainEvaluationNote: 'test AUC as train reports it (cached PNGs cut to the true regions, temperature-scaled): a check on (a)',
    seconds: (Date.now() - t0) / 1000,
    machine: machineDescription(),
    load,
    date: new Date().toISOString(),
    command: `node dist/bench/localiser-auc.js --patients ${PATIENTS} --size ${SIZE} --input ${INPUT} --epochs ${EPOCHS} --localiser-epochs ${LOCALISER_EPOCHS} --difficulty ${DIFFICULTY} --lr ${LR} --resamples ${RESAMPLES} --seed ${SEED}`,
  };
  writeResults('localiser', [result]);
  const f = (i: AucInterval): string => `${i.estimate.toFixed(3)} [${i.lower.toFixed(3)}, ${i.upper.toFixed(3)}]`;
  writeDocSection(
    'localiser-auc',
    [
      '## Hip localiser: the classifier\'s AUC with predicted against true regions',
      '',
      `${result.dataset}; ${result.split}. ${result.config.classifier}; its localiser as \`train\` fits it (median IoU ${result.localiserIou.median.toFixed(2)} on these images). Intervals: ${result.config.bootstrap}. ${machineDescription()}, ${result.date.slice(0, 10)}; \`${result.command}\`; \`bench/results/localiser.json\`.`,
      '',
      '| the crop model fed | test ROC-AUC [95 % CI] |',
      '| --- | ---: |',
      `| (a) true hip regions (\`--rois\`) | ${f(result.auc.trueRegions)} |`,
      `| (b) the localiser's regions, both hips of a bilateral view with the more suspicious kept (default predict) | ${f(result.auc.predictedRegions)} |`,
      `| (b'') the localiser's favoured hip only | ${f(result.auc.predictedFavouredHipOnly)} |`,
      `| (b') the localiser's regions, hip named (a diagnosis) | ${f(result.auc.predictedHipNamed)} |`,
      `| (c) whole image, uncropped | ${f(result.auc.wholeImage)} |`,
      `| (a) − (b), paired | ${f(result.difference.trueMinusPredicted)} |`,
      `| (a) − (b'), paired | ${f(result.difference.trueMinusPredictedHipNamed)} |`,
      `| (b) − (b''), paired: what classifying both hips adds | ${f(result.difference.bothHipsMinusFavouredOnly)} |`,
      `| (a) − (c), paired | ${f(result.difference.trueMinusWhole)} |`,
      '',
      `Images with IoU < 0.5: ${result.byIou.below05.n} of ${test.length}, AUC ${result.byIou.below05.aucTrue} true / ${result.byIou.below05.aucPredicted} predicted (at IoU ≥ 0.5: ${result.byIou.atLeast05.aucTrue} / ${result.byIou.atLeast05.aucPredicted}). Misses of the favoured region by header view and laterality: ${Object.entries(result.missesByHeader).map(([k, v]) => `${k} ${v}`).join(', ')}. Bilateral views: ${result.bilateral.images}; the hip kept after classifying both is the true one (IoU ≥ 0.5) in ${result.bilateral.keptTrueHip}, the favoured hip in ${result.bilateral.favouredTrueHip}.`,
    ].join('\n'),
  );
  console.log(JSON.stringify({ auc: result.auc, difference: result.difference, localiserIou: result.localiserIou, byIou: result.byIou, missesByHeader: result.missesByHeader, trainEvaluationAuc: result.trainEvaluationAuc, seconds: result.seconds }, null, 1));
} finally {
  rmSync(work, { recursive: true, force: true });
}

// What the hip localiser costs the classifier: a phantom cohort (easy difficulty by default) imported with its hip_roi_*
// regions and split by patient with a held-out test set, two crop classifiers trained as `hipfrac train --crop roi`
// does it, one on the exact regions (--region-jitter off) and one on jittered regions (--region-jitter on), the same in
// all else, with one hip localiser (trained with the first), then for each ROC-AUC on the held-out test patients' DICOM files read as predict reads
// them: (a) cut to the true regions (the --rois override), (b) cut to the localiser's regions (the default: both
// hips of a bilateral view classified, the more suspicious kept), (b'') the localiser's favoured hip only,
// (c) whole, uncropped (a reference); as a diagnosis, (b') cut to the localiser's regions with the hip named (the
// slot of the true region); and the paired difference jittered minus exact. 95 % intervals and the paired
// differences by a bootstrap over test patients.
// There is no peer. Adds its entry to bench/results/localiser.json and writes its section of docs/benchmarks.md.
// Run: node dist/bench/localiser-auc.js [--patients 200] [--size 256] [--input 96] [--epochs 8] [--localiser-epochs 80]
// [--difficulty easy] [--lr 3e-4]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultRegionJitter, importDataset, modelInput, radiographReader, readManifestRows, splitByPatient, splitPath, writeJsonAtomic, type ManifestRow, type Radiograph, type RegionJitter, type RegionOfInterest } from '../src/data/index.js';
import { checkpointLocator, classifierCropScorer, iou, LOCALISER_DEFAULTS } from '../src/localise/index.js';
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
    'localiser-epochs': { type: 'string', default: String(LOCALISER_DEFAULTS.epochs) },
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
  // in a few minutes. Two classifiers, the same in all but the regions they train on: the exact regions
  // (--region-jitter off), and regions jittered as --region-jitter on does (defaultRegionJitter).
  const base = { arch: 'resnet18', pretrained: false, frozenEpochs: 0, lrMult: 1, head: 'linear', crop: 'roi', inputSize: INPUT, batchSize: 16, unfrozenEpochs: EPOCHS, lrFind: false, lr: LR, unfrozenLr: LR, optimizer: 'adam', weightDecay: 0, augment: false, seed: SEED };
  const exactConfig = resolveConfig({ ...base, regionJitter: null }, 'bench/localiser-auc.ts');
  const jitterConfig = resolveConfig({ ...base, regionJitter: defaultRegionJitter }, 'bench/localiser-auc.ts');
  log('bench: the classifier on exact regions, and the hip localiser…');
  const exactRun = await trainRun({ datasetDir: dataset, outDir: join(work, 'run-exact'), config: exactConfig, resume: false, workers: 2, localiserEpochs: LOCALISER_EPOCHS, log });
  exactRun.model.dispose();
  // The same localiser for both: the second run trains none, and both are read with the first run's.
  log('bench: the classifier on jittered regions…');
  const jitterRun = await trainRun({ datasetDir: dataset, outDir: join(work, 'run-jitter'), config: jitterConfig, resume: false, workers: 2, localiserEpochs: 0, log });
  jitterRun.model.dispose();
  const test = exactRun.testRows as (ManifestRow & { roi: RegionOfInterest })[];
  if (jitterRun.testRows.map((r) => r.id).join() !== test.map((r) => r.id).join()) throw new Error('bench: the two runs held out different test images');
  const files = test.map((r) => join(cohort, 'images', r.sourcePath));
  const labels = test.map((r) => r.label as number);
  const clusters = test.map((r) => r.patientKey);
  const locate = checkpointLocator(exactRun.checkpointDir);
  if (locate === undefined) throw new Error('bench: the crop model was trained without a hip localiser');

  /** One checkpoint read as predict reads the test files, each way the bench compares. */
  const score = async (checkpointDir: string): Promise<{ trueP: Float64Array; predictedP: Float64Array; favouredP: Float64Array; namedP: Float64Array; wholeP: Float64Array; predictedRegions: RegionOfInterest[]; regionsGiven: RegionOfInterest[][]; kept: Radiograph[] }> => {
    // Predict's own pieces: the checkpoint as `predict --model` loads it, radiographReader with --rois (the phantom's
    // labels.csv, pixels), with the localiser, and for an uncropped model card.
    const { model, card } = loadCheckpoint(checkpointDir);
    model.eval();
    // The localiser's favoured region per image (its first), and every region it gives (both hips of a bilateral view).
    const predictedRegions: RegionOfInterest[] = [];
    const regionsGiven: RegionOfInterest[][] = [];
    const recording: NonNullable<typeof locate> = (image, known) => {
      const regions = locate(image, known);
      predictedRegions.push(regions[0] as RegionOfInterest);
      regionsGiven.push(regions);
      return regions;
    };
    const favouredOnly: NonNullable<typeof locate> = (image, known) => locate(image, known).slice(0, 1);
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
    const named: NonNullable<typeof locate> = (image) => {
      const roi = (test[next++] as (typeof test)[number]).roi;
      return locate(image, { view: 'AP', laterality: (roi[0] + roi[2]) / 2 < 0.5 ? 'R' : 'L' }).slice(0, 1);
    };
    const namedP = await fractureProbabilities(model, card.inputSize, files, radiographReader(card, undefined, named));
    const wholeP = await fractureProbabilities(model, card.inputSize, files, radiographReader({ ...card, crop: 'none' }, undefined));
    model.dispose();
    return { trueP, predictedP, favouredP, namedP, wholeP, predictedRegions, regionsGiven, kept };
  };
  const exact = await score(exactRun.checkpointDir);
  const jittered = await score(jitterRun.checkpointDir);

  const options = { resamples: RESAMPLES, seed: SEED, clusters };
  const round = (i: AucInterval): AucInterval => ({ estimate: +i.estimate.toFixed(4), lower: +i.lower.toFixed(4), upper: +i.upper.toFixed(4), definedResamples: i.definedResamples });
  // The localiser's regions are the same for both classifiers: its IoU from the first read.
  const ious = test.map((r, i) => iou(exact.predictedRegions[i] as RegionOfInterest, r.roi));
  const bilateral = test.map((_, i) => (exact.regionsGiven[i]?.length ?? 1) > 1);
  const sortedIous = [...ious].sort((a, b) => a - b);

  /** One classifier's figures: AUC each way, the paired differences, and where the localiser missed. */
  const figures = (v: Awaited<ReturnType<typeof score>>, run: typeof exactRun, config: typeof exactConfig) => {
    // The hip predict kept: of two regions, the one whose crop starts where the kept radiograph's does.
    const keptIous = test.map((r, i) => {
      const given = v.regionsGiven[i] as RegionOfInterest[];
      const hips = v.kept[i]?.hips;
      const k = hips === undefined ? 0 : hips.findIndex((h) => h.origin[0] === v.kept[i]?.origin?.[0] && h.origin[1] === v.kept[i]?.origin?.[1]);
      return iou(given[Math.max(0, k)] as RegionOfInterest, r.roi);
    });
    // Where the localiser missed: AUC and the mean probability change on images by IoU.
    const subset = (keep: (i: number) => boolean): { n: number; fractured: number; aucTrue: number; aucPredicted: number; meanAbsProbabilityChange: number } => {
      const idx = test.map((_, i) => i).filter(keep);
      const y = idx.map((i) => labels[i] as number);
      const both = y.includes(0) && y.includes(1);
      return {
        n: idx.length,
        fractured: y.filter((l) => l === 1).length,
        aucTrue: both ? +rocAuc(idx.map((i) => v.trueP[i] as number), y).toFixed(4) : Number.NaN,
        aucPredicted: both ? +rocAuc(idx.map((i) => v.predictedP[i] as number), y).toFixed(4) : Number.NaN,
        meanAbsProbabilityChange: +(idx.reduce((s, i) => s + Math.abs((v.trueP[i] as number) - (v.predictedP[i] as number)), 0) / Math.max(1, idx.length)).toFixed(4),
      };
    };
    return {
      regionJitter: config.regionJitter,
      epochsTrained: run.history?.length ?? null,
      auc: { trueRegions: round(bootstrapAuc(v.trueP, labels, options)), predictedRegions: round(bootstrapAuc(v.predictedP, labels, options)), predictedFavouredHipOnly: round(bootstrapAuc(v.favouredP, labels, options)), wholeImage: round(bootstrapAuc(v.wholeP, labels, options)), predictedHipNamed: round(bootstrapAuc(v.namedP, labels, options)) },
      difference: {
        trueMinusPredicted: round(pairedAucDifference(v.trueP, v.predictedP, labels, options)),
        bothHipsMinusFavouredOnly: round(pairedAucDifference(v.predictedP, v.favouredP, labels, options)),
        trueMinusPredictedHipNamed: round(pairedAucDifference(v.trueP, v.namedP, labels, options)),
        trueMinusWhole: round(pairedAucDifference(v.trueP, v.wholeP, labels, options)),
      },
      byIou: { below05: subset((i) => (ious[i] as number) < 0.5), atLeast05: subset((i) => (ious[i] as number) >= 0.5) },
      // Bilateral views (header laterality B on an AP view): both hips classified, the more suspicious kept.
      bilateral: {
        images: bilateral.filter(Boolean).length,
        keptTrueHip: bilateral.filter((b, i) => b && (keptIous[i] as number) >= 0.5).length,
        favouredTrueHip: bilateral.filter((b, i) => b && (ious[i] as number) >= 0.5).length,
      },
      byView: Object.fromEntries([...new Set(test.map((r) => r.view))].map((view) => [view, subset((i) => test[i]?.view === view)])),
      trainEvaluationAuc: +rocAuc(run.evaluation.probs, run.evaluation.labels).toFixed(4),
    };
  };
  const jitter = jitterConfig.regionJitter as RegionJitter;
  const result = {
    benchmark: 'classifier AUC with the localiser\'s against the true hip regions (held-out phantom patients)',
    dataset: `phantom cohort, ${PATIENTS} patients, seed ${SEED}, difficulty ${DIFFICULTY}, ${SIZE} px DICOM`,
    split: `by patient (validation 15 %, test 20 %, seed ${SEED}): ${exactRun.trainRows.length} train, ${exactRun.validRows.length} validation images; measured on ${test.length} images (${labels.filter((v) => v === 1).length} fractured) of ${new Set(clusters).size} held-out test patients`,
    config: {
      classifier: `two, the same but for the training regions: resnet18 from scratch, linear head, --crop roi, ${INPUT} px, batch 16, up to ${EPOCHS} epochs (Adam one-cycle ${LR}, no weight decay, no augmentation, best validation accuracy kept, seed ${SEED})`,
      variants: `exact: the true regions (--region-jitter off); jittered: each epoch's training regions moved by up to ${jitter.shift} of their size and scaled by ${jitter.scale[0]}–${jitter.scale[1]} (--region-jitter ${jitter.shift},${jitter.scale[0]},${jitter.scale[1]}, what --region-jitter on means)`,
      localiser: `LocaliserNet as train fits it: ${LOCALISER_EPOCHS} epochs on the training images, ${LOCALISER_DEFAULTS.inputSize} px; one, trained with the exact run, used for both`,
      read: 'the test DICOM files through radiographReader, as predict reads them; LibTorch forward, softmax P(fracture)',
      bootstrap: `${RESAMPLES} resamples of test patients (all of a patient's images together), seed ${SEED}, percentile 95 %; the same resamples for every row`,
    },
    variants: { exact: figures(exact, exactRun, exactConfig), jittered: figures(jittered, jitterRun, jitterConfig) },
    // Paired over the same test patients: the jittered classifier minus the exact one.
    jitteredMinusExact: {
      trueRegions: round(pairedAucDifference(jittered.trueP, exact.trueP, labels, options)),
      predictedRegions: round(pairedAucDifference(jittered.predictedP, exact.predictedP, labels, options)),
      predictedHipNamed: round(pairedAucDifference(jittered.namedP, exact.namedP, labels, options)),
    },
    localiserIou: { median: +(sortedIous[Math.floor((sortedIous.length - 1) / 2)] as number).toFixed(4), atLeast05: +(ious.filter((v) => v >= 0.5).length / ious.length).toFixed(4), n: ious.length },
    // Which images the localiser missed (IoU < 0.5), by the header's view and laterality: "misses of images".
    missesByHeader: Object.fromEntries([...new Set(test.map((r) => `${r.view} ${r.laterality ?? 'none'}`))].sort().map((k) => {
      const of = test.map((r, i) => [r, i] as const).filter(([r]) => `${r.view} ${r.laterality ?? 'none'}` === k);
      return [k, `${of.filter(([, i]) => (ious[i] as number) < 0.5).length} of ${of.length}`];
    })),
    trainEvaluationNote: 'test AUC as train reports it (cached PNGs cut to the true regions, temperature-scaled): a check on (a)',
    seconds: (Date.now() - t0) / 1000,
    machine: machineDescription(),
    load,
    date: new Date().toISOString(),
    command: `node dist/bench/localiser-auc.js --patients ${PATIENTS} --size ${SIZE} --input ${INPUT} --epochs ${EPOCHS} --localiser-epochs ${LOCALISER_EPOCHS} --difficulty ${DIFFICULTY} --lr ${LR} --resamples ${RESAMPLES} --seed ${SEED}`,
  };
  writeResults('localiser', [result]);
  const f = (i: AucInterval): string => `${i.estimate.toFixed(3)} [${i.lower.toFixed(3)}, ${i.upper.toFixed(3)}]`;
  const { exact: e, jittered: j } = result.variants;
  const row = (what: string, pick: (v: typeof e) => AucInterval): string => `| ${what} | ${f(pick(e))} | ${f(pick(j))} |`;
  writeDocSection(
    'localiser-auc',
    [
      '## Hip localiser: the classifier\'s AUC with predicted against true regions, trained on exact or jittered regions',
      '',
      `${result.dataset}; ${result.split}. Classifiers: ${result.config.classifier}. ${result.config.variants}. Its localiser as \`train\` fits it, one for both (median IoU ${result.localiserIou.median.toFixed(2)} on these images). Intervals: ${result.config.bootstrap}. ${machineDescription()}, ${result.date.slice(0, 10)}; \`${result.command}\`; \`bench/results/localiser.json\`.`,
      '',
      '| the crop model fed | trained on exact regions: test ROC-AUC [95 % CI] | trained on jittered regions |',
      '| --- | ---: | ---: |',
      row('(a) true hip regions (`--rois`)', (v) => v.auc.trueRegions),
      row('(b) the localiser\'s regions, both hips of a bilateral view with the more suspicious kept (default predict)', (v) => v.auc.predictedRegions),
      row('(b\'\') the localiser\'s favoured hip only', (v) => v.auc.predictedFavouredHipOnly),
      row('(b\') the localiser\'s regions, hip named (a diagnosis)', (v) => v.auc.predictedHipNamed),
      row('(c) whole image, uncropped', (v) => v.auc.wholeImage),
      row('(a) − (b), paired', (v) => v.difference.trueMinusPredicted),
      row('(a) − (b\'), paired', (v) => v.difference.trueMinusPredictedHipNamed),
      row('(b) − (b\'\'), paired: what classifying both hips adds', (v) => v.difference.bothHipsMinusFavouredOnly),
      row('(a) − (c), paired', (v) => v.difference.trueMinusWhole),
      '',
      `Jittered minus exact, paired over the same test patients: (b) ${f(result.jitteredMinusExact.predictedRegions)}, (a) ${f(result.jitteredMinusExact.trueRegions)}, (b') ${f(result.jitteredMinusExact.predictedHipNamed)}.`,
      '',
      `Images with IoU < 0.5: ${e.byIou.below05.n} of ${test.length}; AUC true / predicted regions there ${e.byIou.below05.aucTrue} / ${e.byIou.below05.aucPredicted} exact, ${j.byIou.below05.aucTrue} / ${j.byIou.below05.aucPredicted} jittered (at IoU ≥ 0.5: ${e.byIou.atLeast05.aucTrue} / ${e.byIou.atLeast05.aucPredicted} exact, ${j.byIou.atLeast05.aucTrue} / ${j.byIou.atLeast05.aucPredicted} jittered). Mean change of P(fracture) between true and predicted regions at IoU ≥ 0.5: ${e.byIou.atLeast05.meanAbsProbabilityChange} exact, ${j.byIou.atLeast05.meanAbsProbabilityChange} jittered. Misses of the favoured region by header view and laterality: ${Object.entries(result.missesByHeader).map(([k, v]) => `${k} ${v}`).join(', ')}. Bilateral views: ${e.bilateral.images}; the hip kept after classifying both is the true one (IoU ≥ 0.5) in ${e.bilateral.keptTrueHip} exact, ${j.bilateral.keptTrueHip} jittered; the favoured hip in ${e.bilateral.favouredTrueHip}.`,
    ].join('\n'),
  );
  console.log(JSON.stringify({ variants: result.variants, jitteredMinusExact: result.jitteredMinusExact, localiserIou: result.localiserIou, seconds: result.seconds }, null, 1));
} finally {
  rmSync(work, { recursive: true, force: true });
}

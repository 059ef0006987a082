// `hipfrac triage-calibrate`: measures the confidence cut-off on labelled validation radiographs (temperature
// scaling, cut-off with a Clopper–Pearson bound, or conformal sets; operating points) and writes it into the model card.
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { CliError } from '../errors.js';
import { writeJsonAtomic } from '../../data/index.js';
import { CHECKPOINT_CARD } from '../../models/index.js';
import { noGrad, tidy } from '../../torch/index.js';
import { fitTemperature } from '../../train/metrics/index.js';
import {
  calibratedCutoffPolicy,
  chooseOperatingPoints,
  conformalPolicy,
  givenCutoffPolicy,
  policyToJson,
  riskCoverageCurve,
  softmaxRow,
  type TriagePolicy,
} from '../../triage/index.js';
import { collectInputs, modelInput, readImageLabels } from '../../data/index.js';
import { batchesOf, CHECKPOINT_FLAGS, checkpointCard, checkpointReader, loadModel, numberOption, positiveInt, requireLabelled, singlePositional } from '../options.js';

const usage = `Usage: hipfrac triage-calibrate <png|dicom|dir> --model CKPT_DIR [--device cpu|cuda[:N]] [--rois FILE] --labels labels.csv
                                [--method cutoff|given|conformal-lac|conformal-aps] [--target 0.005] [--delta 0.05]
                                [--cutoff 0.995] [--alpha 0.1] [--temperature fit|none] [--sensitivity 0.95]
                                [--specificity 0.95] [--write] [--out FILE]

Runs the checkpoint on labelled validation radiographs (never the training images) and chooses how cases
are routed: 'cutoff' (default) picks the lowest confidence cut-off whose error among auto-reported cases is
≤ --target with 1 − --delta confidence (Clopper–Pearson, fixed-sequence testing); 'given' measures --cutoff;
'conformal-*' calibrates prediction sets at coverage 1 − --alpha. Softmax temperature (and, for two classes, a
bias on the fracture logit) is fitted first (--temperature none to skip). Prints the policy; --write stores it in
CKPT_DIR/model.json ("threshold"); --out FILE also writes the policy and the risk–coverage curve as JSON.`;

export const triageCalibrateCommand: CliCommand = {
  name: 'triage-calibrate',
  summary: 'Choose and measure the triage cut-off on validation data; store it in the model card',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        ...CHECKPOINT_FLAGS,
        labels: { type: 'string' },
        method: { type: 'string', default: 'cutoff' },
        target: { type: 'string' },
        delta: { type: 'string' },
        cutoff: { type: 'string' },
        alpha: { type: 'string' },
        temperature: { type: 'string', default: 'fit' },
        sensitivity: { type: 'string' },
        specificity: { type: 'string' },
        write: { type: 'boolean', default: false },
        out: { type: 'string' },
        batch: { type: 'string' },
      },
    });
    const input = singlePositional(positionals, 'input', usage.split('\n')[0] ?? '');
    if (values.labels === undefined) throw new CliError('HF_CLI_MISSING_OPTION', '--labels is required: a cut-off is measured against the truth.', { fix: 'pass a CSV "file,label" for the validation images.' });
    const method = values.method as string;
    if (!['cutoff', 'given', 'conformal-lac', 'conformal-aps'].includes(method)) {
      throw new CliError('HF_CLI_BAD_OPTION', `unknown method '${method}'.`, { input: '--method', fix: 'use cutoff, given, conformal-lac or conformal-aps.' });
    }
    if (values.temperature !== 'fit' && values.temperature !== 'none') throw new CliError('HF_CLI_BAD_OPTION', `--temperature must be fit or none.`, { input: '--temperature', fix: 'use --temperature fit (default) or none.' });
    // Every number is checked before the model runs.
    const sensitivity = numberOption(values.sensitivity, '--sensitivity');
    const specificity = numberOption(values.specificity, '--specificity');
    const target = numberOption(values.target, '--target');
    const givenCutoff = numberOption(values.cutoff, '--cutoff');
    const alpha = numberOption(values.alpha, '--alpha');
    const batchSize = positiveInt(values.batch, 16, '--batch');
    const files = collectInputs(input);
    const checked = checkpointCard(values.model);
    const reader = checkpointReader(values.model, checked, values.rois);
    const read = reader.read;
    const labelMap = await readImageLabels(values.labels, checked.classes);
    requireLabelled(files, labelMap);
    const { model, card } = loadModel(values.model, values.device);
    reader.use(model);
    const logits: number[][] = [];
    const labels: number[] = [];
    for (const names of batchesOf(files, batchSize)) {
      const radiographs = await Promise.all(names.map(read));
      const out = tidy(() => noGrad(() => model.call(modelInput(radiographs, card.inputSize)).toFloat32Array()));
      const k = card.classes.length;
      radiographs.forEach((r, i) => {
        const label = labelMap.labelOf(r.file);
        if (label === undefined) throw new CliError('HF_CLI_BAD_LABELS', 'an image has no row in the labels CSV.', { input: r.file, fix: 'add a "file,label" row for it.' });
        logits.push(Array.from(out.subarray(i * k, (i + 1) * k)));
        labels.push(label);
      });
    }
    model.dispose();
    // Temperature scaling: the one implementation (train/metrics, tested against SciPy).
    const fit = values.temperature === 'fit' ? fitTemperature(logits.flat(), labels, { numClasses: card.classes.length, bias: card.classes.length === 2 }) : { temperature: 1, bias: 0 };
    const { temperature, bias } = fit;
    const probabilities = logits.map((z) => softmaxRow(z, temperature, bias));
    const operatingPoints = card.classes.length === 2 && labels.includes(0) && labels.includes(1)
      ? chooseOperatingPoints(probabilities.map((p) => p[1] as number), labels, {
          ...(values.sensitivity === undefined ? {} : { targetSensitivity: sensitivity }),
          ...(values.specificity === undefined ? {} : { targetSpecificity: specificity }),
        })
      : undefined;
    const extras = { temperature, bias, ...(operatingPoints === undefined ? {} : { operatingPoints }) };
    const delta = numberOption(values.delta, '--delta');
    let policy: TriagePolicy;
    if (method === 'cutoff') {
      policy = calibratedCutoffPolicy(probabilities, labels, { ...(target === undefined ? {} : { targetError: target }), ...(delta === undefined ? {} : { delta }) }, extras);
    } else if (method === 'given') {
      policy = givenCutoffPolicy(givenCutoff ?? 0.995, { probabilities, labels, ...(delta === undefined ? {} : { delta }) }, extras);
    } else {
      policy = conformalPolicy(probabilities, labels, { score: method === 'conformal-lac' ? 'lac' : 'aps', ...(alpha === undefined ? {} : { alpha }) }, extras);
    }
    const curve = riskCoverageCurve(probabilities, labels);
    const pct = (v: number | null, digits = 1): string => (v === null ? 'n/a' : `${(100 * v).toFixed(digits)} %`);
    console.log(`validation images: ${labels.length}; temperature ${temperature.toFixed(3)}, fracture-logit bias ${bias.toFixed(3)}`);
    console.log(`method ${policy.method}: cut-off ${policy.cutoff === null ? 'n/a (conformal sets)' : policy.cutoff > 1 ? 'none reaches the target (every case reviewed)' : pct(policy.cutoff, 2)}`);
    console.log(`auto-reported ${pct(policy.coverage)}, error among them ${pct(policy.measuredError, 2)}${policy.errorUpperBound === null ? '' : ` (≤ ${pct(policy.errorUpperBound, 2)} at ${pct(1 - (policy.delta ?? 0.05), 0)} confidence)`}`);
    if (operatingPoints !== undefined) {
      console.log(`suspicious: P ≥ ${operatingPoints.suspicious.threshold.toFixed(4)} (sensitivity ${pct(operatingPoints.suspicious.sensitivity)}); definite: P ≥ ${operatingPoints.definite.threshold.toFixed(4)} (specificity ${pct(operatingPoints.definite.specificity)})`);
    }
    if (values.write === true) {
      const cardFile = path.join(values.model as string, CHECKPOINT_CARD);
      const stored = JSON.parse(readFileSync(cardFile, 'utf8')) as Record<string, unknown>;
      await writeJsonAtomic(cardFile, { ...stored, threshold: policyToJson(policy) });
      console.log(`written to ${cardFile} ("threshold")`);
    }
    if (values.out !== undefined) {
      await mkdir(path.dirname(path.resolve(values.out)), { recursive: true });
      await writeFile(values.out, `${JSON.stringify({ policy, riskCoverage: curve }, null, 2)}\n`);
    }
    return 0;
  },
};

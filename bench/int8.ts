// The accuracy cost of int8: a trained checkpoint exported as int8 QDQ with each calibration method (min-max,
// percentile, entropy) on N validation images of its dataset, measured against fp32 on the other validation images
// (AUC with a paired bootstrap interval, accuracy, flipped predictions). Writes bench/results/int8.json and its
// section of docs/benchmarks.md.
// Run: node dist/bench/int8.js --model RUN/model --data DATASET [--calibration-images 64] [--label TEXT]
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exportCheckpointOnnx, type AccuracyChange } from '../src/train/index.js';
import { readModelCard, type CalibrationMethod } from '../src/models/index.js';
import { writeDocSection } from './lib/results.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      'calibration-images': { type: 'string', default: '64' },
      label: { type: 'string', default: '' },
      out: { type: 'string', default: path.join(ROOT, 'bench/results/int8.json') },
    },
  });
  if (values.model === undefined || values.data === undefined) throw new Error('usage: node dist/bench/int8.js --model RUN/model --data DATASET');
  const card = readModelCard(values.model);
  const results: AccuracyChange[] = [];
  for (const method of ['minmax', 'percentile', 'entropy'] as CalibrationMethod[]) {
    const { accuracy } = await exportCheckpointOnnx({ checkpointDir: values.model, quantize: { dataset: values.data, images: Number(values['calibration-images']), method } });
    if (accuracy === undefined) throw new Error('no accuracy measured');
    results.push(accuracy);
    console.log(JSON.stringify(accuracy));
  }
  const model = `${card.architecture} (${card.head} head, ${card.inputSize} px)${values.label === '' ? '' : `, ${values.label}`}`;
  mkdirSync(path.dirname(values.out), { recursive: true });
  writeFileSync(values.out, JSON.stringify({ model, dataset: path.basename(values.data), date: new Date().toISOString(), results }, null, 2) + '\n');
  const f = (v: number): string => v.toFixed(4);
  const first = results[0] as AccuracyChange;
  const lines = [
    `### int8 accuracy cost (\`bench/int8.ts\`): ${model}`,
    '',
    `Dataset ${path.basename(values.data)}, validation split: ${first.calibrationImages} images calibrate, the other ${first.evaluationImages} measure.`,
    '',
    '| calibration | AUC fp32 | AUC int8 | AUC change [95 % paired bootstrap] | accuracy fp32 | accuracy int8 | flipped predictions | largest probability change |',
    '|---|---:|---:|---|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.method} | ${f(r.aucFp32)} | ${f(r.aucInt8)} | ${f(r.aucChange.estimate)} [${f(r.aucChange.lower)}, ${f(r.aucChange.upper)}] | ${f(r.accuracyFp32)} | ${f(r.accuracyInt8)} | ${r.flippedDecisions} / ${r.evaluationImages} | ${f(r.maxProbabilityChange)} |`),
  ];
  writeDocSection('int8', lines.join('\n'));
}

await main();

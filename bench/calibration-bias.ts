// Calibration on FracAtlas (issue 16's ECE goal): for each stored run, the temperature alone against the temperature
// with a bias on the fracture logit (what `hipfrac train` fits), both fitted on the validation split and scored on
// the test split: NLL, Brier score, top-label ECE, the fracture probability's own ECE,
// the mean probability against the fracture rate, and the ECE a perfectly calibrated model would show on as many
// images. The margins come back from each results.json's probabilities and its stored T and bias; no model runs.
// Writes bench/results/calibration-bias.json and its section of docs/benchmarks.md.
//   node dist/bench/calibration-bias.js [--runs runs/bh] [--variants last,last-peak,...]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { eceFloor, marginsFromProbabilities, scoreCalibration, type CalibrationScore, type Labelled } from './lib/calibrationBias.js';
import { machineDescription, resultsPath, today, writeDocSection } from './lib/results.js';

interface StoredRun {
  readonly evaluatedOn: string;
  readonly temperature: number;
  readonly calibrationBias?: number;
  readonly predictions: { label: number; probability: number }[];
  readonly validation: { predictions: { label: number; probability: number }[] };
}

const DEFAULT_VARIANTS = 'last,last-peak,fine-peak,fine-peak3-6ep,fine-peak-6ep,fine-peak-8ep,fine-peak-aug-6ep,fine-peak-aug-8ep,fine-peak-aug-8ep-seed1,fine-peak-aug-8ep-seed1-auc,fine-peak-aug-8ep-seed2-auc';

function main(): void {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: 'runs/bh' },
      variants: { type: 'string', default: DEFAULT_VARIANTS },
    },
  });
  const rows = [];
  for (const name of values.variants.split(',')) {
    const file = path.join(values.runs, name, 'results.json');
    if (!existsSync(file)) {
      console.log(`${name}: no ${file}, left out (train it with bench/boxhead.ts).`);
      continue;
    }
    const run = JSON.parse(readFileSync(file, 'utf8')) as StoredRun;
    if (run.evaluatedOn !== 'test') throw new Error(`${file} is measured on ${run.evaluatedOn}, not test: split the dataset with --test.`);
    const bias = run.calibrationBias ?? 0;
    const back = (preds: StoredRun['predictions']): Labelled & { clamped: number } => {
      const { margins, clamped } = marginsFromProbabilities(preds.map((p) => p.probability), run.temperature, bias);
      return { margins, labels: preds.map((p) => p.label), clamped };
    };
    const val = back(run.validation.predictions);
    const test = back(run.predictions);
    const alone = scoreCalibration(val, test, false);
    const withBias = scoreCalibration(val, test, true);
    rows.push({
      name,
      testImages: test.labels.length,
      fractureRate: test.labels.reduce((a, y) => a + y, 0) / test.labels.length,
      clamped: val.clamped + test.clamped,
      temperatureAlone: alone,
      temperatureAndBias: withBias,
      perfectModelEce: eceFloor(test, withBias),
    });
    console.log(`${name}: NLL ${alone.nll.toFixed(3)} -> ${withBias.nll.toFixed(3)}, ECE ${alone.ece.toFixed(3)} -> ${withBias.ece.toFixed(3)}, fracture ECE ${alone.fractureEce.toFixed(3)} -> ${withBias.fractureEce.toFixed(3)}`);
  }
  if (rows.length === 0) throw new Error(`no run with results.json under ${values.runs}: run bench/boxhead.ts first.`);
  const json = {
    benchmark: 'calibration on FracAtlas: temperature alone against temperature and bias (issue 16)',
    data: 'FracAtlas, non-hip part (Abedeen et al., Scientific Data 10, 521, 2023; CC BY 4.0), split by image, stratified, seed 42; fitted on validation, scored on test',
    evaluatedOn: 'test',
    fittedOn: 'validation',
    machine: machineDescription(),
    date: today(),
    command: `node dist/bench/calibration-bias.js --runs ${values.runs} --variants ${values.variants}`,
    runs: rows,
  };
  writeFileSync(resultsPath('calibration-bias'), `${JSON.stringify(json, null, 2)}\n`);
  const f = (v: number): string => v.toFixed(3);
  const cell = (c: CalibrationScore): string => `${f(c.nll)} | ${f(c.brier)} | ${f(c.ece)} | ${f(c.fractureEce)} | ${f(c.meanProbability)}`;
  const table = [
    '| run | fracture rate | T | NLL | Brier | ECE | fracture ECE | mean p | T, bias | NLL | Brier | ECE | fracture ECE | mean p | perfect model\'s ECE |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${f(r.fractureRate)} | ${r.temperatureAlone.temperature.toFixed(2)} | ${cell(r.temperatureAlone)} | ${r.temperatureAndBias.temperature.toFixed(2)}, ${r.temperatureAndBias.bias.toFixed(2)} | ${cell(r.temperatureAndBias)} | ${f(r.perfectModelEce.median)} (95th pct ${f(r.perfectModelEce.upper)}) |`),
  ].join('\n');
  const clamped = rows.filter((r) => r.clamped > 0).map((r) => `${r.name} ${r.clamped}`);
  writeDocSection(
    'calibration-bias',
    `## Calibration on FracAtlas: temperature alone against temperature and bias (issue 16)\n\nThe box head study's runs (\`bench/boxhead.ts\`; ResNet-18 from scratch, 320 px, class-balanced batches), each calibrated on its ${rows[0]?.testImages ?? 0}-image validation split and scored on the ${rows[0]?.testImages ?? 0}-image test split: first with a temperature alone, then with a temperature and a bias on the fracture logit (p = σ(m / T + b)), both by minimising the validation NLL. ECE is top-label (Guo et al.) over 15 bins; "fracture ECE" bins the fracture probability itself (scikit-learn's calibration curve); "mean p" is the mean fracture probability against the fracture rate; "perfect model's ECE" is the median top-label ECE of labels drawn from the calibrated probabilities themselves, the value a perfectly calibrated model would show on this many images (above its 95th percentile, a model is miscalibrated rather than unlucky). Margins are recovered from each results.json (p = σ(m / T + b) with its stored T and b)${clamped.length > 0 ? `; probabilities stored as exactly 0 or 1 are clamped at 1e-15 (${clamped.join(', ')})` : ''}. ${json.machine}, ${json.date}; \`${json.command}\`; \`bench/results/calibration-bias.json\`.\n\n${table}`,
  );
  console.log(table);
}

main();

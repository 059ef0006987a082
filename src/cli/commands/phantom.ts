// `hipfrac phantom`: writes a synthetic hip radiograph cohort (DICOM, labels.csv, annotations.json) and a contact
// sheet. The images are synthetic, not clinical data; the same options always give byte-identical files.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { type Difficulty, DIFFICULTIES, generateCohort, writeContactSheet } from '../../phantom/index.js';
import { ProgressBar } from '../../util/index.js';
import { CliError } from '../errors.js';

const usage = `Usage: hipfrac phantom --patients N --seed S --difficulty easy|standard|hard --out DIR
                       [--size 1024] [--prevalence 0.43] [--label-noise 0] [--workers 2] [--sheet 16]

Generates N synthetic patients (1–3 radiographs each: AP pelvis, AP hip, lateral hip) as DICOM under
DIR/images/, with DIR/labels.csv, DIR/annotations.json (fracture boxes and masks) and DIR/contact-sheet.png
(the first --sheet images, fracture boxes in red). Synthetic images, not clinical data.`;

function integer(name: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n)) throw new CliError('HF_CLI_BAD_OPTION', `--${name} must be an integer (got '${text}').`, { input: `--${name}`, fix: usage.split('\n')[0] ?? '' });
  return n;
}

function number(name: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new CliError('HF_CLI_BAD_OPTION', `--${name} must be a number (got '${text}').`, { input: `--${name}`, fix: usage.split('\n')[0] ?? '' });
  return n;
}

export const phantomCommand: CliCommand = {
  name: 'phantom',
  summary: 'Generate a synthetic hip radiograph cohort (DICOM + labels + fracture boxes)',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        patients: { type: 'string' },
        seed: { type: 'string', default: '0' },
        difficulty: { type: 'string', default: 'standard' },
        out: { type: 'string' },
        size: { type: 'string', default: '1024' },
        prevalence: { type: 'string', default: '0.43' },
        'label-noise': { type: 'string', default: '0' },
        workers: { type: 'string', default: '2' },
        sheet: { type: 'string', default: '16' },
      },
    });
    if (values.patients === undefined || values.out === undefined) {
      throw new CliError('HF_CLI_MISSING_OPTION', `${values.patients === undefined ? '--patients' : '--out'} is required.`, { fix: usage.split('\n')[0] ?? '' });
    }
    const difficulty = values.difficulty as Difficulty;
    if (!DIFFICULTIES.includes(difficulty)) throw new CliError('HF_CLI_BAD_OPTION', `--difficulty must be one of ${DIFFICULTIES.join('|')} (got '${values.difficulty}').`, { input: '--difficulty', fix: `use ${DIFFICULTIES.join(', ')}.` });
    const patients = integer('patients', values.patients);
    const sheet = integer('sheet', values.sheet);
    let bar: ProgressBar | null = null;
    const started = Date.now();
    const result = await generateCohort({
      patients,
      seed: integer('seed', values.seed),
      difficulty,
      out: values.out,
      size: integer('size', values.size),
      prevalence: number('prevalence', values.prevalence),
      labelNoise: number('label-noise', values['label-noise']),
      workers: integer('workers', values.workers),
      previews: sheet,
      onProgress: (done, total) => {
        bar ??= new ProgressBar({ label: 'phantom', total, unit: 'img' });
        bar.tick(1);
        if (done === total) bar.finish();
      },
    });
    const sheetPath = join(values.out, 'contact-sheet.png');
    if (result.previews.length > 0) await writeContactSheet(sheetPath, result.previews);
    const fracturedImages = result.images.filter((i) => i.planned.spec.fractureApplied).length;
    const fracturedPatients = result.patients.filter((p) => p.label === 1).length;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`Wrote ${result.images.length} images of ${result.patients.length} synthetic patients (${fracturedPatients} patients, ${fracturedImages} images with a fracture) to ${values.out} in ${seconds} s.`);
    console.log(`Labels: ${join(values.out, 'labels.csv')}; boxes and masks: ${join(values.out, 'annotations.json')}${result.previews.length > 0 ? `; contact sheet: ${sheetPath}` : ''}.`);
    return 0;
  },
};

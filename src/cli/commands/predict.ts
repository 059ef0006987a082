// `hipfrac predict`: fracture probability, triage decision and Grad-CAM heatmap for each radiograph (DICOM,
// PNG or JPEG; a file or a folder), as JSON or CSV. Also the input helpers the explain/attack/triage commands share.
import { existsSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { cropGrey, isDicomFile, modelInput, parseCsv, readRadiograph, ROI_COLUMN_SETS, roiFromColumns, type Radiograph, type RegionOfInterest } from '../../data/index.js';
import { COLORMAPS, GradCam, heatmapsFromTensor, writeOverlayPng, type ColormapName, type Heatmap } from '../../explain/index.js';
import { loadCheckpoint, optimizeForInference, type Classifier, type ModelCard } from '../../models/index.js';
import { inferenceMode, noGrad, resolveDevice, tidy } from '../../torch/index.js';
import { calibratedProbabilities, decide, givenCutoffPolicy, policyFromModelCard, type TriageDecision, type TriagePolicy } from '../../triage/index.js';
import { HipfracError } from '../../util/index.js';

// ------------------------------------------------------------------------------------------------
// Shared input helpers (reading one radiograph and the model's input tensor live in src/data/radiograph.ts)

export { modelInput, readRadiograph } from '../../data/index.js';
export type { Radiograph } from '../../data/index.js';

const IMAGE_EXTENSIONS = new Set(['.dcm', '.dicom', '.png', '.jpg', '.jpeg']);

/** The radiographs named by a file or a folder (not recursive), sorted. */
export function collectInputs(target: string): string[] {
  if (!existsSync(target)) throw new HipfracError('HF_CLI_INPUT_MISSING', 'the input does not exist.', { input: target, fix: 'give a DICOM/PNG/JPEG file or a folder of them.' });
  if (!statSync(target).isDirectory()) return [target];
  const files = readdirSync(target)
    .map((name) => path.join(target, name))
    .filter((f) => statSync(f).isFile() && (IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase()) || (path.extname(f) === '' && isDicomFile(f))))
    .sort();
  if (files.length === 0) throw new HipfracError('HF_CLI_INPUT_MISSING', 'the folder holds no DICOM, PNG or JPEG files.', { input: target });
  return files;
}

/** The flags of every command that runs a checkpoint: --model CKPT_DIR, --device (loadModel) and --rois (radiographReader). */
export const CHECKPOINT_FLAGS = {
  model: { type: 'string' },
  device: { type: 'string', default: 'cpu' },
  rois: { type: 'string' },
} as const;

/**
 * Reads a CSV of regions of interest: a `file` column (a path, matched against the end of each input's path) and
 * hip_roi_x0…y1 or roi_x0…y1 in pixels. The phantom's labels.csv is such a file.
 */
export function readRoisCsv(csvFile: string): Map<string, readonly [number, number, number, number]> {
  let text: string;
  try {
    text = readFileSync(csvFile, 'utf8');
  } catch (cause) {
    throw new HipfracError('HF_CLI_BAD_ROIS', `cannot read the ROI file (${(cause as NodeJS.ErrnoException).code ?? String(cause)}).`, { input: csvFile, fix: 'check the --rois path.', cause });
  }
  const [header, ...body] = parseCsv(text);
  const names = (header?.fields ?? []).map((f) => f.trim().toLowerCase());
  const fileCol = names.indexOf('file');
  if (fileCol < 0 || !ROI_COLUMN_SETS.some((cols) => cols.every((c) => names.includes(c)))) {
    throw new HipfracError('HF_CLI_BAD_ROIS', 'the ROI file needs a "file" column and hip_roi_x0, hip_roi_y0, hip_roi_x1, hip_roi_y1 (pixels).', { input: csvFile, fix: 'e.g. the labels.csv hipfrac phantom writes.' });
  }
  const out = new Map<string, readonly [number, number, number, number]>();
  for (const { fields, line } of body) {
    const file = fields[fileCol]?.trim() ?? '';
    if (file === '') continue;
    const box = roiFromColumns((c) => (names.includes(c) ? (fields[names.indexOf(c)] ?? '') : undefined));
    if (box === null || box === undefined) {
      throw new HipfracError('HF_CLI_BAD_ROIS', `line ${line}: the region of ${file} is empty or not a number.`, { input: csvFile, fix: 'give x0 < x1 and y0 < y1 in pixels.' });
    }
    out.set(file.split(path.sep).join('/'), box);
  }
  return out;
}

/**
 * How a command reads its inputs for this checkpoint: as they are, or — for a model trained on hip crops
 * (card.crop 'roi') — cut to each file's region from --rois, so the model sees what it was trained on and the
 * heatmap overlays show that region.
 */
export function radiographReader(card: ModelCard, roisFile: string | undefined): (file: string) => Promise<Radiograph> {
  if (card.crop !== 'roi') return readRadiograph;
  if (roisFile === undefined) {
    throw new HipfracError('HF_CLI_NEEDS_ROI', 'this model was trained on hip regions of interest (crop: roi) and needs one per image.', {
      fix: 'pass --rois FILE: a CSV with file and hip_roi_x0, hip_roi_y0, hip_roi_x1, hip_roi_y1 in pixels (the phantom labels.csv has them).',
    });
  }
  const rois = readRoisCsv(roisFile);
  return async (file: string): Promise<Radiograph> => {
    // The row naming the longest tail of the input's path (a relative path or a bare file name) wins.
    const parts = file.split(path.sep);
    const box = parts.map((_, i) => rois.get(parts.slice(i).join('/'))).find((b) => b !== undefined);
    if (box === undefined) throw new HipfracError('HF_CLI_NEEDS_ROI', 'no region of interest for this image in the --rois file.', { input: file, fix: `add a row for it to ${roisFile}.` });
    const r = await readRadiograph(file);
    const { width, height } = r.original;
    const region: RegionOfInterest = [box[0] / width, box[1] / height, box[2] / width, box[3] / height];
    const cut = cropGrey(r.original.data, width, height, region);
    return { ...r, original: { width: cut.width, height: cut.height, data: cut.pixels, maxValue: r.original.maxValue }, origin: [Math.round(region[0] * width), Math.round(region[1] * height)] };
  };
}

/** The checkpoint's model (eval mode) and card, moved to `device` ('cpu' default, 'cuda', 'cuda:N'). */
export function loadModel(dir: string | undefined, device = 'cpu'): { model: Classifier; card: ModelCard } {
  if (dir === undefined) throw new HipfracError('HF_CLI_BAD_OPTION', '--model is required.', { fix: 'pass --model CKPT_DIR (a folder with model.json and model.safetensors).' });
  const target = resolveDevice(device);
  const loaded = loadCheckpoint(dir);
  if (target !== 'cpu') loaded.model.to(target);
  return loaded;
}

/** Reads `file,label` rows (label an index or a class name of the card); file paths relative to the CSV. */
export function readLabelsCsv(csvFile: string, classes: readonly string[]): Map<string, number> {
  const rows = parseCsv(readFileSync(csvFile, 'utf8'));
  const out = new Map<string, number>();
  const [header, ...body] = rows;
  if (header === undefined || header.fields[0]?.trim().toLowerCase() !== 'file' || header.fields[1]?.trim().toLowerCase() !== 'label') {
    throw new HipfracError('HF_CLI_BAD_LABELS', 'the labels CSV must start with the header "file,label".', { input: csvFile });
  }
  for (const { fields, line } of body) {
    const [file, raw] = fields.map((f) => f.trim());
    if (file === undefined || file === '' || raw === undefined) continue;
    const byName = classes.indexOf(raw);
    const label = byName >= 0 ? byName : Number(raw);
    if (!Number.isInteger(label) || label < 0 || label >= classes.length) {
      throw new HipfracError('HF_CLI_BAD_LABELS', `line ${line}: label '${raw}' is neither a class index below ${classes.length} nor one of ${classes.join(', ')}.`, { input: csvFile });
    }
    out.set(path.resolve(path.dirname(csvFile), file), label);
  }
  return out;
}

/** Splits a list into batches of `size`. */
export function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function positiveInt(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new HipfracError('HF_CLI_BAD_OPTION', `${name} must be a positive integer, got '${value}'.`, { input: name });
  return n;
}

export function colormapOption(value: string | undefined): ColormapName {
  const name = (value ?? 'jet') as ColormapName;
  if (!COLORMAPS.includes(name)) throw new HipfracError('HF_CLI_BAD_OPTION', `unknown colour map '${value}'.`, { input: '--colormap', fix: `use one of ${COLORMAPS.join(', ')}.` });
  return name;
}

export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new HipfracError('HF_CLI_BAD_OPTION', `${name} must be a number, got '${value}'.`, { input: name });
  return n;
}

// ------------------------------------------------------------------------------------------------
// The command

const usage = `Usage: hipfrac predict <dicom|png|dir> --model CKPT_DIR [--device cpu|cuda[:N]] [--out DIR] [--format json|csv]
                       [--cutoff P] [--no-heatmaps [--fast]] [--colormap jet|viridis|cividis] [--batch N] [--rois FILE]

For each radiograph: P(fracture), the predicted class, the triage decision (auto-report when the
calibrated confidence clears the checkpoint's cut-off, else radiologist review) and a Grad-CAM
overlay at the image's own resolution (written to DIR/heatmaps/, default DIR = ./predictions).
The cut-off comes from the model card (hipfrac triage-calibrate); --cutoff overrides it knowingly.
Results go to stdout, and to DIR/predictions.json or .csv. A model trained with --crop roi needs --rois FILE
(file, hip_roi_x0…y1 in pixels): each image is cut to its hip region, and the heatmap shows that region.
--fast (with --no-heatmaps) runs an inference copy of the model: BatchNorm folded into the convolutions,
channels-last, inference mode (0.98-20.6x torchvision on CPU, docs/benchmarks.md). Its probabilities equal the
plain model's to float32 rounding (~1e-6), so a case exactly at the cut-off can land on the other side.`;

interface PredictionRow {
  readonly file: string;
  readonly key: string;
  readonly fractureProbability: number;
  readonly predicted: string;
  readonly confidence: number;
  readonly decision: TriageDecision['decision'];
  readonly level: string;
  readonly heatmap: string;
  readonly reason: string;
}

function toCsv(rows: readonly PredictionRow[]): string {
  const header = ['file', 'key', 'fracture_probability', 'predicted', 'confidence', 'decision', 'level', 'heatmap', 'reason'];
  const quote = (v: string | number): string => {
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header.join(','), ...rows.map((r) => [r.file, r.key, r.fractureProbability.toFixed(6), r.predicted, r.confidence.toFixed(6), r.decision, r.level, r.heatmap, r.reason].map(quote).join(','))].join('\n') + '\n';
}

export const predictCommand: CliCommand = {
  name: 'predict',
  summary: 'Fracture probability, triage decision and heatmap per radiograph (DICOM/PNG, file or folder)',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        ...CHECKPOINT_FLAGS,
        out: { type: 'string' },
        format: { type: 'string', default: 'json' },
        cutoff: { type: 'string' },
        'no-heatmaps': { type: 'boolean', default: false },
        fast: { type: 'boolean', default: false },
        colormap: { type: 'string' },
        batch: { type: 'string' },
      },
    });
    const target = positionals[0];
    if (target === undefined) throw new HipfracError('HF_CLI_BAD_OPTION', 'no input given.', { fix: usage });
    const format = values.format;
    if (format !== 'json' && format !== 'csv') throw new HipfracError('HF_CLI_BAD_OPTION', `--format must be json or csv, got '${format}'.`, { input: '--format' });
    const colormap = colormapOption(values.colormap);
    const batchSize = positiveInt(values.batch, 8, '--batch');
    const files = collectInputs(target);
    const { model, card } = loadModel(values.model, values.device);
    const read = radiographReader(card, values.rois);
    const cutoff = numberOption(values.cutoff, '--cutoff');
    const policy: TriagePolicy = cutoff !== undefined ? givenCutoffPolicy(cutoff) : policyFromModelCard(card, path.join(values.model as string, 'model.json'));
    const outDir = values.out ?? 'predictions';
    const heatmaps = values['no-heatmaps'] !== true;
    if (values.fast === true && heatmaps) {
      throw new HipfracError('HF_CLI_BAD_OPTION', '--fast runs without gradients, and Grad-CAM heatmaps need them.', { input: '--fast', fix: 'add --no-heatmaps, or drop --fast.' });
    }
    const cam = heatmaps ? new GradCam(model, model.spec.gradCamLayer) : undefined;
    const fast = values.fast === true ? optimizeForInference(model, { channelsLast: true }).to(model.device) : undefined;
    const rows: PredictionRow[] = [];
    for (const names of batchesOf(files, batchSize)) {
      const radiographs = await Promise.all(names.map(read));
      const { logits, maps } = tidy(() => {
        const x = modelInput(radiographs, card.inputSize);
        if (fast !== undefined) return { logits: inferenceMode(() => fast.call(x).toFloat32Array()), maps: undefined as Heatmap[] | undefined };
        if (cam === undefined) return { logits: noGrad(() => model.call(x)).toFloat32Array(), maps: undefined as Heatmap[] | undefined };
        const r = cam.computeWithLogits(x);
        return { logits: r.logits.toFloat32Array(), maps: heatmapsFromTensor(r.heatmaps) };
      });
      const classes = card.classes.length;
      for (let i = 0; i < radiographs.length; i++) {
        const r = radiographs[i] as Radiograph;
        const probabilities = calibratedProbabilities(Array.from(logits.subarray(i * classes, (i + 1) * classes)), policy);
        let heatmapFile = '';
        if (maps !== undefined) {
          heatmapFile = path.join(outDir, 'heatmaps', `${path.parse(r.key).name}.png`);
          await writeOverlayPng(heatmapFile, r.original, maps[i] as Heatmap, { colormap });
        }
        const d = decide(probabilities, policy, heatmapFile === '' ? {} : { heatmapPath: heatmapFile });
        rows.push({
          file: r.file,
          key: r.key,
          fractureProbability: d.fractureProbability,
          predicted: card.classes[d.predicted] ?? String(d.predicted),
          confidence: d.confidence,
          decision: d.decision,
          level: d.level ?? '',
          heatmap: heatmapFile,
          reason: d.reason,
        });
      }
    }
    cam?.dispose();
    model.dispose();
    await mkdir(outDir, { recursive: true });
    const text = format === 'json' ? `${JSON.stringify({ policy, predictions: rows }, null, 2)}\n` : toCsv(rows);
    await writeFile(path.join(outDir, `predictions.${format}`), text);
    console.log(text.trimEnd());
    return 0;
  },
};

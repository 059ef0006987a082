// A checkpoint's export for deployment: the fp32 ONNX graph, or the int8 QDQ graph calibrated on a dataset's
// validation images with the accuracy change (AUC with a paired bootstrap interval, accuracy) measured on the
// remaining validation images and written into the model card; optionally a Triton model-repository folder.
import { cachedPngPath, ImageLoader, loadManifest, type ManifestRow } from '../data/index.js';
import {
  buildOnnxGraph,
  createOnnxPredictor,
  finishOnnx,
  loadCheckpoint,
  quantizeInt8,
  writeOnnxFile,
  writeTritonRepository,
  type CalibrationMethod,
  type ModelCard,
} from '../models/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HipfracError } from '../util/index.js';
import { accuracyScore, pairedAucDifference, rocAuc } from './metrics/index.js';

export interface QuantizeRequest {
  /** A dataset folder (manifest + split): calibration and evaluation images come from its validation split. */
  readonly dataset: string;
  /** Validation images used for calibration (the first N in manifest order); the rest measure accuracy. */
  readonly images: number;
  readonly method: CalibrationMethod;
}

export interface ExportRequest {
  readonly checkpointDir: string;
  readonly out?: string;
  readonly tritonDir?: string;
  readonly inputSize?: number;
  readonly foldBatchNorm?: boolean;
  readonly quantize?: QuantizeRequest;
  readonly log?: (line: string) => void;
}

/** fp32 against int8 on the validation images not used for calibration. */
export interface AccuracyChange {
  readonly dataset: string;
  readonly split: 'val';
  readonly calibrationImages: number;
  readonly evaluationImages: number;
  readonly method: CalibrationMethod;
  readonly aucFp32: number;
  readonly aucInt8: number;
  /** AUC(int8) − AUC(fp32) with its 95 % paired bootstrap interval (2,000 resamples of the evaluation images). */
  readonly aucChange: { estimate: number; lower: number; upper: number };
  readonly accuracyFp32: number;
  readonly accuracyInt8: number;
  /** Images whose predicted class differs between fp32 and int8. */
  readonly flippedDecisions: number;
  readonly maxProbabilityChange: number;
}

/** Validation images of a dataset at `size`, grey [N, 1, size, size] in [0, 1], with labels, in manifest order. */
export async function validationImages(datasetDir: string, size: number, card: ModelCard): Promise<{ images: Float32Array; labels: Int32Array; rows: ManifestRow[] }> {
  const rows = (await loadManifest(datasetDir)).filter((r) => r.split === 'val' && r.label !== null);
  if (rows.length === 0) {
    throw new HipfracError('HF_MODELS_ONNX_CALIBRATION', 'the dataset has no labelled validation images.', { input: datasetDir, fix: 'run `hipfrac split` on it first (calibration uses the validation split).' });
  }
  const samples = rows.map((r) => ({ imagePath: cachedPngPath(datasetDir, r), label: r.label as number, region: card.crop === 'roi' ? (r.roi ?? null) : null }));
  const loader = new ImageLoader(samples, { batchSize: 16, imageSize: size, shuffle: false, workers: 1, augment: null, channels: 1 });
  const plane = size * size;
  const images = new Float32Array(rows.length * plane);
  const labels = new Int32Array(rows.length);
  let n = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      const data = batch.images.toFloat32Array();
      const ys = batch.labels.toArray();
      images.set(data, n * plane);
      labels.set(ys, n);
      n += ys.length;
      batch.images.dispose();
      batch.labels.dispose();
    }
  } finally {
    await loader.close();
  }
  return { images, labels, rows };
}

async function runAll(file: string, images: Float32Array, count: number, plane: number): Promise<Float32Array> {
  const predictor = await createOnnxPredictor(file);
  try {
    const out = new Float32Array(count * predictor.classes);
    for (let i = 0; i < count; i += 16) {
      const n = Math.min(16, count - i);
      const { probabilities } = await predictor.predictBatch(images.subarray(i * plane, (i + n) * plane), n);
      out.set(probabilities, i * predictor.classes);
    }
    return out;
  } finally {
    await predictor.dispose();
  }
}

/** Measures fp32 against int8 on the evaluation images (binary models: class 1 is the fracture class). */
export async function measureAccuracyChange(fp32File: string, int8File: string, images: Float32Array, labels: Int32Array, plane: number, facts: Omit<AccuracyChange, 'aucFp32' | 'aucInt8' | 'aucChange' | 'accuracyFp32' | 'accuracyInt8' | 'flippedDecisions' | 'maxProbabilityChange'>): Promise<AccuracyChange> {
  const count = labels.length;
  const pa = await runAll(fp32File, images, count, plane);
  const pb = await runAll(int8File, images, count, plane);
  const classes = pa.length / count;
  const positive = (p: Float32Array): Float64Array => Float64Array.from({ length: count }, (_, i) => p[i * classes + classes - 1] as number);
  const argmax = (p: Float32Array): Int32Array =>
    Int32Array.from({ length: count }, (_, i) => {
      let best = 0;
      for (let c = 1; c < classes; c++) if ((p[i * classes + c] as number) > (p[i * classes + best] as number)) best = c;
      return best;
    });
  const [sa, sb] = [positive(pa), positive(pb)];
  const [ya, yb] = [argmax(pa), argmax(pb)];
  let flipped = 0;
  let maxChange = 0;
  for (let i = 0; i < count; i++) {
    if (ya[i] !== yb[i]) flipped++;
    maxChange = Math.max(maxChange, Math.abs((sa[i] as number) - (sb[i] as number)));
  }
  return {
    ...facts,
    aucFp32: rocAuc(sa, labels),
    aucInt8: rocAuc(sb, labels),
    aucChange: (({ estimate, lower, upper }) => ({ estimate, lower, upper }))(pairedAucDifference(sb, sa, labels, { resamples: 2000 })),
    accuracyFp32: accuracyScore(ya, labels),
    accuracyInt8: accuracyScore(yb, labels),
    flippedDecisions: flipped,
    maxProbabilityChange: maxChange,
  };
}

/** Exports a checkpoint folder; returns the files written and, for int8, the measured accuracy change. */
export async function exportCheckpointOnnx(request: ExportRequest): Promise<{ files: string[]; accuracy?: AccuracyChange }> {
  const log = request.log ?? ((): void => undefined);
  const { model, card } = loadCheckpoint(request.checkpointDir);
  const size = request.inputSize ?? card.inputSize;
  let bytes: Uint8Array;
  let accuracy: AccuracyChange | undefined;
  try {
    const graph = buildOnnxGraph(model, { inputSize: size, foldBatchNorm: request.foldBatchNorm ?? true, card });
    if (request.quantize === undefined) {
      bytes = finishOnnx(graph, card);
    } else {
      const q = request.quantize;
      const { images, labels } = await validationImages(q.dataset, size, card);
      const plane = size * size;
      const calibrationCount = Math.min(q.images, labels.length);
      const evaluationCount = labels.length - calibrationCount;
      if (evaluationCount < 2) {
        throw new HipfracError('HF_MODELS_ONNX_CALIBRATION', `the validation split has ${labels.length} images; ${calibrationCount} calibrate and too few are left to measure the accuracy change.`, {
          input: q.dataset,
          fix: 'lower --calibration-images or use a dataset with a larger validation split.',
        });
      }
      log(`calibrating int8 (${q.method}) on ${calibrationCount} validation images of ${q.dataset}`);
      const fp32Bytes = finishOnnx(graph, card);
      const quantized = await quantizeInt8(graph, images.subarray(0, calibrationCount * plane), calibrationCount, { method: q.method });
      const temp = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-export-'));
      try {
        const fp32File = path.join(temp, 'fp32.onnx');
        const int8File = path.join(temp, 'int8.onnx');
        writeOnnxFile(fp32File, fp32Bytes);
        writeOnnxFile(int8File, finishOnnx(quantized, card));
        log(`measuring fp32 against int8 on ${evaluationCount} other validation images`);
        accuracy = await measureAccuracyChange(fp32File, int8File, images.subarray(calibrationCount * plane), labels.subarray(calibrationCount), plane, {
          dataset: path.resolve(q.dataset),
          split: 'val',
          calibrationImages: calibrationCount,
          evaluationImages: evaluationCount,
          method: q.method,
        });
      } finally {
        rmSync(temp, { recursive: true, force: true });
      }
      quantized.facts.quantization = { ...quantized.facts.quantization, accuracyChange: accuracy };
      bytes = finishOnnx(quantized, card);
    }
  } finally {
    model.dispose();
  }
  const files: string[] = [];
  if (request.out !== undefined) {
    writeOnnxFile(request.out, bytes);
    files.push(request.out);
  }
  if (request.tritonDir !== undefined) {
    const written = writeTritonRepository(request.tritonDir, bytes, { inputSize: size, classes: card.classes.length });
    files.push(written.config, written.model);
  }
  return accuracy === undefined ? { files } : { files, accuracy };
}

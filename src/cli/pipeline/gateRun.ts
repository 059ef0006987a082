// After training: fits the input gate on the training images' features, sets its thresholds on validation, measures
// its pass rate on test, and stores it in the checkpoint (gate.safetensors + the card's `gate` entry).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cachedPngPath, ImageLoader, writeJsonAtomic, type ManifestRow } from '../../data/index.js';
import { InputGate, gateFeatures, type GateCard, type GateFeatures, type GateFitOptions } from '../../gate/index.js';
import { CHECKPOINT_CARD, type Classifier } from '../../models/index.js';
import type { TrainConfig } from '../../train/index.js';
import { sampleRegion } from './trainRun.js';

/** At most this many training images feed the gate's means and covariance (more add time, not accuracy). */
export const GATE_TRAINING_CAP = 2000;

async function featuresOf(model: Classifier, rows: readonly ManifestRow[], datasetDir: string, config: Pick<TrainConfig, 'inputSize' | 'crop' | 'batchSize'>, workers: number): Promise<GateFeatures> {
  const out = { features: [] as Float32Array[], logits: [] as Float32Array[], pixels: [] as number[][], polarity: [] as number[][], invertedPolarity: [] as number[][] };
  if (rows.length === 0) return out;
  const loader = new ImageLoader(rows.map((r) => ({ imagePath: cachedPngPath(datasetDir, r), label: r.label ?? 0, region: sampleRegion(r, config) })), { batchSize: config.batchSize, imageSize: config.inputSize, shuffle: false, workers, augment: null });
  try {
    for await (const batch of loader.epoch(0)) {
      const f = gateFeatures(model, batch.images);
      batch.images.dispose();
      batch.labels.dispose();
      out.features.push(...f.features);
      out.logits.push(...f.logits);
      out.pixels.push(...f.pixels);
      out.polarity.push(...f.polarity);
      out.invertedPolarity.push(...f.invertedPolarity);
    }
  } finally {
    await loader.close();
  }
  return out;
}

/** Evenly spaced rows, at most `cap` of them (deterministic). */
function capped<T>(rows: readonly T[], cap: number): T[] {
  if (rows.length <= cap) return [...rows];
  return Array.from({ length: cap }, (_, i) => rows[Math.floor((i * rows.length) / cap)] as T);
}

export interface GateRunInput {
  readonly model: Classifier;
  readonly trainRows: readonly ManifestRow[];
  readonly validRows: readonly ManifestRow[];
  readonly testRows: readonly ManifestRow[];
  readonly datasetDir: string;
  readonly checkpointDir: string;
  readonly config: Pick<TrainConfig, 'inputSize' | 'crop' | 'batchSize'>;
  readonly workers?: number;
  readonly options?: GateFitOptions;
}

/** Fits, saves and records the gate; returns its card entry. */
export async function fitRunGate(input: GateRunInput): Promise<GateCard> {
  const model = input.model;
  model.eval();
  const workers = input.workers ?? 2;
  const trainRows = capped(input.trainRows, GATE_TRAINING_CAP);
  const train = await featuresOf(model, trainRows, input.datasetDir, input.config, workers);
  const valid = await featuresOf(model, input.validRows, input.datasetDir, input.config, workers);
  const test = await featuresOf(model, input.testRows, input.datasetDir, input.config, workers);
  const gate = InputGate.fit(
    { ...train, labels: trainRows.map((r) => r.label ?? 0), bodyParts: trainRows.map((r) => r.bodyPart), views: trainRows.map((r) => r.view) },
    valid,
    input.options ?? {},
    test,
  );
  const entry = gate.save(input.checkpointDir);
  const cardFile = path.join(input.checkpointDir, CHECKPOINT_CARD);
  const card = JSON.parse(readFileSync(cardFile, 'utf8')) as Record<string, unknown>;
  await writeJsonAtomic(cardFile, { ...card, gate: entry });
  return entry;
}

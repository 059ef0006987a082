// An inference worker process (forked by the pool, advanced serialisation): loads the model and its input gate once,
// then for each batch reads the images (a corrupt one is reported back with its reason, never crashing the worker),
// predicts, sends an image that fails the gate to review, routes the rest by the policy and writes Grad-CAM overlays
// (and, for a model with a box head, fracture boxes) for the cases that need them.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { encode } from 'fast-png';
import path from 'node:path';
import { radiographReader, type Radiograph } from '../../data/index.js';
import { renderOverlay, type Heatmap, type PixelFractureBox } from '../../explain/index.js';
import { InputGate } from '../../gate/index.js';
import { checkpointLocator } from '../../localise/index.js';
import { setNumThreads } from '../../torch/index.js';
import { decide, gated } from '../../triage/index.js';
import { describeError } from '../../util/index.js';
import { heatmapLayerPath } from './heatmapFiles.js';
import { heatmapLayer } from './heatmapLayer.js';
import { OnnxImagePredictor, type ImagePredictor } from './predictor.js';
import type { BatchRequest, ItemResult, WorkerInit, WorkerMessage } from './protocol.js';

if (process.send === undefined) throw new Error('worker.ts runs as a child process forked by the inference pool');
const init = JSON.parse(process.env['HIPFRAC_WORKER_INIT'] ?? '{}') as WorkerInit;
const post = (m: WorkerMessage): void => {
  process.send?.(m);
};

let predictor: ImagePredictor;
/** The checkpoint's input gate (the cascade's first stage), or null when it has none. */
let gate: InputGate | null;
/** Whole radiographs, or for a model trained on hip crops the region its checkpoint's localiser finds (the node checked it has one); of a bilateral view's two hips, the more suspicious. */
let readImage: (file: string) => Promise<Radiograph>;
try {
  const threads = Math.max(1, init.threads);
  setNumThreads(threads);
  gate = InputGate.load(init.modelDir);
  // With a gate, one pass gives the probabilities and the body's pooled features the gate scores: on ONNX Runtime a
  // graph with a `features` output, else LibTorch.
  // No spinning ONNX Runtime threads: this process shares the cores with the node's main process (receive, store, results).
  const opened = await OnnxImagePredictor.open(init.modelDir, init.policy, init.engine, threads, false, gate !== null);
  predictor = opened.predictor;
  readImage = radiographReader(predictor.card, undefined, checkpointLocator(init.modelDir), predictor.scoreCrops);
  const note = `${opened.note}; ${gate === null ? 'no input gate in the checkpoint' : 'the input gate scores the same pass\'s pooled features and logits'}`;
  post({ type: 'ready', inputSize: predictor.card.inputSize, engine: note });
} catch (error) {
  post({ type: 'fatal', message: describeError(error) });
  throw error;
}

async function runBatch(request: BatchRequest): Promise<ItemResult[]> {
  const out = new Map<number, ItemResult>();
  const images: { item: BatchRequest['items'][number]; radiograph: Radiograph }[] = [];
  for (const item of request.items) {
    try {
      images.push({ item, radiograph: await readImage(path.join(init.dataDir, item.file)) });
    } catch (error) {
      out.set(item.jobId, { ok: false, jobId: item.jobId, sopInstanceUid: item.sopInstanceUid, reason: describeError(error) });
    }
  }
  const radiographs = images.map((i) => i.radiograph);
  // An image that fails the input gate is never auto-reported: it goes to review (with its heatmap) and says why.
  const { probabilities, verdicts } = gate === null ? { probabilities: await predictor.predictBatch(radiographs), verdicts: [] } : await predictor.predictGated(radiographs, gate);
  const decisions = probabilities.map((p, i) => gated(decide(p, init.policy), verdicts[i]));
  const explain = images.map((_, i) => init.heatmaps === 'all' || decisions[i]?.decision === 'radiologist-review');
  const chosen = images.filter((_, i) => explain[i]);
  const maps = predictor.heatmaps(chosen.map((c) => c.radiograph));
  const mapOf = new Map<number, Heatmap>(chosen.map((c, i) => [c.item.jobId, maps[i] as Heatmap]));
  // Fracture boxes (a second LibTorch pass through the box head) only for a model that has one, and only for the
  // images shown to someone: those with a heatmap (review, or all with heatmaps: all) and those predicted fracture.
  const boxed = predictor.hasBoxHead ? images.filter((_, i) => explain[i] === true || decisions[i]?.predicted === 1) : [];
  const found = predictor.boxes(boxed.map((c) => c.radiograph));
  const boxesOf = new Map<number, PixelFractureBox[]>(boxed.map((c, i) => [c.item.jobId, found[i] ?? []]));
  for (const [i, { item, radiograph }] of images.entries()) {
    const d = decisions[i];
    if (d === undefined) continue;
    let heatmap = '';
    const map = mapOf.get(item.jobId);
    if (map !== undefined) {
      heatmap = path.join('heatmaps', `${createHash('sha256').update(item.sopInstanceUid).digest('hex').slice(0, 32)}.png`);
      // fast-png: a small pure-JS PNG encoder is enough for a heatmap overlay.
      const rgb = renderOverlay(radiograph.original, map);
      await mkdir(path.join(init.dataDir, 'heatmaps'), { recursive: true });
      // The layer covers the whole radiograph (the viewer shows the whole image); a crop's heat sits on its region.
      const { width, height } = radiograph.original;
      const [fullWidth, fullHeight] = radiograph.sourceSize ?? [width, height];
      const layer = heatmapLayer(map, fullWidth, fullHeight, { origin: radiograph.origin ?? [0, 0], width, height });
      await writeFile(path.join(init.dataDir, heatmapLayerPath(heatmap)), encode({ width: layer.width, height: layer.height, data: layer.data, channels: 4, depth: 8 }));
      await writeFile(path.join(init.dataDir, heatmap), encode({ width: rgb.width, height: rgb.height, data: rgb.data, channels: 3, depth: 8 }));
    }
    out.set(item.jobId, {
      ok: true,
      jobId: item.jobId,
      sopInstanceUid: item.sopInstanceUid,
      fractureProbability: d.fractureProbability,
      predicted: predictor.card.classes[d.predicted] ?? String(d.predicted),
      confidence: d.confidence,
      decision: d.decision,
      level: d.level ?? '',
      reason: d.reason,
      heatmap,
      ...(boxesOf.has(item.jobId) ? { boxes: boxesOf.get(item.jobId) } : {}),
      regionOrigin: radiograph.origin ?? [0, 0],
    });
  }
  return request.items.map((item) => out.get(item.jobId) as ItemResult);
}

let chain = Promise.resolve();
process.on('message', (request: BatchRequest | { readonly type: 'stop' }) => {
  if (request.type === 'stop') {
    // Finish the batch in hand, release the model, and let the process end.
    void chain.then(async () => {
      await predictor.dispose();
      process.disconnect();
    });
    return;
  }
  chain = chain.then(async () => {
    try {
      post({ type: 'results', batchId: request.batchId, results: await runBatch(request) });
    } catch (error) {
      post({ type: 'fatal', message: describeError(error) });
      process.exit(1);
    }
  });
});

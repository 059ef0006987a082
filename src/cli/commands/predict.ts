// `hipfrac predict`: fracture probability, triage decision and Grad-CAM heatmap for each radiograph (DICOM,
// PNG or JPEG; a file or a folder), as JSON or CSV.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { collectInputs, greyModelInput, modelInput, type Radiograph } from '../../data/index.js';
import { boxHeadBoxes, GradCam, heatmapsFromTensor, writeOverlayPng, type Heatmap, type PixelFractureBox } from '../../explain/index.js';
import { onnxFactsOf, openCheckpointOnnx, optimizeForInference, type Classifier, type ModelCard, type OnnxPredictor } from '../../models/index.js';
import { inferenceMode, noGrad, tidy } from '../../torch/index.js';
import { colourfulness, gateFeaturesOf, InputGate, type GateVerdict } from '../../gate/index.js';
import { calibratedProbabilities, decide, gated, givenCutoffPolicy, policyFromModelCard, uncalibratedPolicy, UNCALIBRATED_REASON, type TriageDecision, type TriagePolicy } from '../../triage/index.js';
import { HipfracError } from '../../util/index.js';
import { CliError } from '../errors.js';
import { batchesOf, CHECKPOINT_FLAGS, checkpointCard, checkpointReader, colormapOption, loadModel, numberOption, positiveInt } from '../options.js';

// ------------------------------------------------------------------------------------------------
// The command

const usage = `Usage: hipfrac predict <dicom|png|dir>... --model CKPT_DIR [--device cpu|cuda[:N]] [--out DIR] [--format json|csv]
                       [--cutoff P] [--no-heatmaps [--fast]] [--colormap jet|viridis|cividis] [--batch N] [--rois FILE]
                       [--engine onnx|libtorch] [--onnx FILE]

For each radiograph (files or folders, several at once): P(fracture), the predicted class, the triage
decision (auto-report when the calibrated confidence clears the checkpoint's cut-off, else radiologist
review) and a Grad-CAM overlay at the image's own resolution (written to DIR/heatmaps/, default
DIR = ./predictions).
The cut-off comes from the model card (hipfrac triage-calibrate); --cutoff overrides it knowingly.
Results go to stdout, and to DIR/predictions.json or .csv. A model trained with --crop roi cuts each image to
its hip region with the checkpoint's hip localiser; --rois FILE (file, hip_roi_x0…y1 in pixels) overrides it
and is needed when the checkpoint has none. An image that fails the checkpoint's input gate (blank, inverted,
another modality or body part: docs/real-images.md) is never auto-reported; the reason says why.
--fast (with --no-heatmaps) runs an inference copy of the model: BatchNorm folded into the convolutions,
channels-last, inference mode (0.98-20.6x torchvision on CPU, docs/benchmarks.md). Its probabilities equal the
plain model's to float32 rounding (~1e-6), so a case exactly at the cut-off can land on the other side.
--engine: with --no-heatmaps the default is onnx (ONNX Runtime on the checkpoint's graph: --onnx FILE, else
MODEL_DIR/model.onnx when newer than the weights, else an fp32 export made in memory); heatmaps need gradients
and run on libtorch. An int8 graph's precision and measured accuracy change are printed to stderr. With an input
gate, the graph made in memory (or a MODEL_DIR/model.onnx that has one) also outputs the pooled features the gate
scores, so one pass serves both; a graph without that output leaves the gate its own LibTorch pass.`;

/** ONNX Runtime unless heatmaps, --fast, a GPU or --engine libtorch ask for LibTorch; says on stderr what runs. */
async function onnxEngine(values: { engine?: string | undefined; onnx?: string | undefined; fast?: boolean | undefined; device?: string | undefined; model?: string | undefined }, heatmaps: boolean, model: Classifier, card: ModelCard, gated: boolean): Promise<OnnxPredictor | undefined> {
  const engine = values.engine ?? (heatmaps || values.fast === true || (values.device ?? 'cpu') !== 'cpu' ? 'libtorch' : 'onnx');
  if (engine !== 'onnx' && engine !== 'libtorch') throw new CliError('HF_CLI_BAD_OPTION', `--engine must be onnx or libtorch, got '${engine}'.`, { input: '--engine' });
  if (engine === 'libtorch') return undefined;
  if (heatmaps || values.fast === true) {
    throw new CliError('HF_CLI_BAD_OPTION', '--engine onnx predicts without heatmaps (Grad-CAM needs LibTorch\'s gradients) and is not --fast.', { input: '--engine', fix: 'add --no-heatmaps and drop --fast, or use --engine libtorch.' });
  }
  // With an input gate, the checkpoint's graph gives the pooled features the gate scores too (one pass); a graph given
  // with --onnx is taken as it is, and without a features output the gate runs its own LibTorch pass.
  const { predictor, source } = await openCheckpointOnnx(values.model as string, model, card, values.onnx, {}, { features: gated && values.onnx === undefined });
  const q = onnxFactsOf(predictor.card)?.quantization as { accuracyChange?: { aucChange: { estimate: number; lower: number; upper: number }; evaluationImages: number; dataset: string } } | undefined;
  const change = q?.accuracyChange;
  const measured = change === undefined ? '' : `; AUC change ${change.aucChange.estimate.toFixed(4)} [${change.aucChange.lower.toFixed(4)}, ${change.aucChange.upper.toFixed(4)}] on ${change.evaluationImages} validation images of ${path.basename(change.dataset)}`;
  console.error(`engine: onnx (${predictor.precision}${measured}), graph: ${source}`);
  return predictor;
}

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
  /** The input gate's verdict; absent for checkpoints without a gate. */
  readonly gate?: GateVerdict;
  /**
   * Fracture boxes from the box head (models trained with --box-loss-weight): [x0, y0, x1, y1] in the file's pixels
   * and the heatmap probability that made each; absent for models without a box head.
   */
  readonly boxes?: readonly PixelFractureBox[];
  /** Both hips of a bilateral view (crop models): where each crop starts in the file's pixels and its P(fracture); the row is the more suspicious one's. */
  readonly hips?: Radiograph['hips'];
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
        engine: { type: 'string' },
        onnx: { type: 'string' },
      },
    });
    if (positionals.length === 0) throw new CliError('HF_CLI_MISSING_OPTION', 'no input given.', { fix: usage.split('\n')[0] ?? '' });
    const format = values.format;
    if (format !== 'json' && format !== 'csv') throw new CliError('HF_CLI_BAD_OPTION', `--format must be json or csv, got '${format}'.`, { input: '--format', fix: 'use --format json or --format csv.' });
    const colormap = colormapOption(values.colormap);
    const batchSize = positiveInt(values.batch, 8, '--batch');
    const cutoff = numberOption(values.cutoff, '--cutoff');
    if (cutoff !== undefined && !(cutoff >= 0 && cutoff <= 1)) throw new CliError('HF_CLI_BAD_OPTION', `--cutoff must be a probability in [0, 1], got ${cutoff}.`, { input: '--cutoff', fix: 'e.g. --cutoff 0.995' });
    const heatmaps = values['no-heatmaps'] !== true;
    if (values.fast === true && heatmaps) {
      throw new CliError('HF_CLI_BAD_OPTION', '--fast runs without gradients, and Grad-CAM heatmaps need them.', { input: '--fast', fix: 'add --no-heatmaps, or drop --fast.' });
    }
    const files = positionals.flatMap((input) => collectInputs(input));
    // Card, regions and policy are checked before the weights load.
    const card = checkpointCard(values.model);
    const reader = checkpointReader(values.model, card, values.rois);
    const read = reader.read;
    let policy: TriagePolicy;
    let warning: string | undefined;
    try {
      policy = cutoff !== undefined ? givenCutoffPolicy(cutoff) : policyFromModelCard(card, path.join(values.model as string, 'model.json'));
    } catch (error) {
      // Without a measured cut-off the probabilities are still given; no case is auto-reported.
      if (!(error instanceof HipfracError && error.code === 'HF_TRIAGE_NO_CUTOFF')) throw error;
      policy = uncalibratedPolicy();
      warning = UNCALIBRATED_REASON;
      console.error(`hipfrac: warning: ${warning}.`);
    }
    const { model } = loadModel(values.model, values.device);
    reader.use(model);
    const outDir = values.out ?? 'predictions';
    const cam = heatmaps ? new GradCam(model, model.spec.gradCamLayer) : undefined;
    const gate = InputGate.load(values.model as string);
    const onnx = await onnxEngine(values, heatmaps, model, card, gate !== null);
    const fast = values.fast === true ? optimizeForInference(model, { channelsLast: true }).to(model.device) : undefined;
    const rows: PredictionRow[] = [];
    for (const names of batchesOf(files, batchSize)) {
      const radiographs = await Promise.all(names.map(read));
      const colours = gate === null ? [] : await Promise.all(radiographs.map((r) => colourfulness(r.file)));
      let pass: { grey: Float32Array; logits: Float32Array; features?: Float32Array } | undefined;
      if (onnx !== undefined) {
        const grey = greyModelInput(radiographs, card.inputSize);
        pass = { grey, ...(await onnx.predictBatch(grey, radiographs.length)) };
      }
      const verdicts = gate === null ? [] : pass?.features !== undefined ? gate.verdicts(gateFeaturesOf(pass.features, pass.logits, pass.grey, radiographs.length, 1, card.inputSize), colours) : tidy(() => gate.check(model, modelInput(radiographs, card.inputSize), colours));
      const { logits, maps } = pass !== undefined ? { logits: pass.logits, maps: undefined } : tidy(() => {
        const x = modelInput(radiographs, card.inputSize);
        if (fast !== undefined) return { logits: inferenceMode(() => fast.call(x).toFloat32Array()), maps: undefined as Heatmap[] | undefined };
        if (cam === undefined) return { logits: noGrad(() => model.call(x)).toFloat32Array(), maps: undefined as Heatmap[] | undefined };
        const r = cam.computeWithLogits(x);
        return { logits: r.logits.toFloat32Array(), maps: heatmapsFromTensor(r.heatmaps) };
      });
      const boxes = model.boxHead === null ? undefined : boxHeadBoxes(model, radiographs, card);
      const classes = card.classes.length;
      for (let i = 0; i < radiographs.length; i++) {
        const r = radiographs[i] as Radiograph;
        const probabilities = calibratedProbabilities(Array.from(logits.subarray(i * classes, (i + 1) * classes)), policy);
        let heatmapFile = '';
        if (maps !== undefined) {
          heatmapFile = path.join(outDir, 'heatmaps', `${path.parse(r.key).name}.png`);
          await writeOverlayPng(heatmapFile, r.original, maps[i] as Heatmap, { colormap });
        }
        const verdict = verdicts[i];
        const d = gated(decide(probabilities, policy, heatmapFile === '' ? {} : { heatmapPath: heatmapFile }), verdict);
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
          ...(verdict === undefined ? {} : { gate: verdict }),
          ...(boxes === undefined ? {} : { boxes: boxes[i] ?? [] }),
          ...(r.hips === undefined ? {} : { hips: r.hips }),
        });
      }
    }
    cam?.dispose();
    await onnx?.dispose();
    model.dispose();
    await mkdir(outDir, { recursive: true });
    const text = format === 'json' ? `${JSON.stringify({ policy, ...(warning === undefined ? {} : { warning }), predictions: rows }, null, 2)}\n` : toCsv(rows);
    await writeFile(path.join(outDir, `predictions.${format}`), text);
    console.log(text.trimEnd());
    return 0;
  },
};

// `hipfrac train`: one architecture through the study's protocol on an imported dataset, ending in
// a checkpoint (model.safetensors + model.json), results.json, log.jsonl and report.html.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { launchRanks, paperProtocol, parseSizeSteps, rankFromEnvironment, resolveConfig, type TrainConfig } from '../../train/index.js';
import { defaultRegionJitter, requireDataset, type RegionJitter } from '../../data/index.js';
import { HipfracError } from '../../util/index.js';
import { CliError } from '../errors.js';
import { architectureOption, positiveInt } from '../options.js';
import { checkDistributedConfig, trainRun, writeRunReport } from '../pipeline/index.js';

/** CLI flags → config keys; numbers are parsed and validated with the rest of the config. */
export const CONFIG_FLAGS = {
  arch: { type: 'string' },
  'input-size': { type: 'string' },
  progressive: { type: 'string' },
  crop: { type: 'string' },
  'region-jitter': { type: 'string' },
  'batch-size': { type: 'string' },
  'frozen-epochs': { type: 'string' },
  'unfrozen-epochs': { type: 'string' },
  patience: { type: 'string' },
  lr: { type: 'string' },
  'unfrozen-lr': { type: 'string' },
  optimizer: { type: 'string' },
  head: { type: 'string' },
  ps: { type: 'string' },
  'label-smoothing': { type: 'string' },
  'box-loss-weight': { type: 'string' },
  'box-peak-weight': { type: 'string' },
  'box-head': { type: 'string' },
  monitor: { type: 'string' },
  precision: { type: 'string' },
  'mask-markers': { type: 'boolean' },
  'weight-decay': { type: 'string' },
  seed: { type: 'string' },
  'valid-fraction': { type: 'string' },
  'no-augment': { type: 'boolean' },
  'no-lr-find': { type: 'boolean' },
  balanced: { type: 'boolean' },
  scratch: { type: 'boolean' },
  config: { type: 'string' },
  // Not a protocol setting (the same config trains anywhere): where the run computes.
  device: { type: 'string', default: 'cpu' },
} as const;

/** torchrun's launch flags (data-parallel training). */
const LAUNCH_FLAGS = {
  'nproc-per-node': { type: 'string' },
  nnodes: { type: 'string' },
  'node-rank': { type: 'string' },
  'master-addr': { type: 'string' },
  'master-port': { type: 'string' },
  'dist-timeout': { type: 'string' },
  'sync-bn': { type: 'boolean' },
} as const;

const NUMERIC: Record<string, keyof TrainConfig> = {
  'input-size': 'inputSize',
  'batch-size': 'batchSize',
  'frozen-epochs': 'frozenEpochs',
  'unfrozen-epochs': 'unfrozenEpochs',
  patience: 'patience',
  lr: 'lr',
  'unfrozen-lr': 'unfrozenLr',
  ps: 'ps',
  'label-smoothing': 'labelSmoothing',
  'box-loss-weight': 'boxLossWeight',
  'box-peak-weight': 'boxPeakWeight',
  'weight-decay': 'weightDecay',
  seed: 'seed',
  'valid-fraction': 'validFraction',
};

/** --region-jitter: 'off' (null), 'on' (defaultRegionJitter), or SHIFT,LOW,HIGH; the ranges are checked with the config. */
function regionJitterOption(text: string): RegionJitter | null {
  if (text.trim() === 'off') return null;
  if (text.trim() === 'on') return defaultRegionJitter;
  const v = text.split(',').map((p) => (p.trim() === '' ? Number.NaN : Number(p)));
  if (v.length !== 3 || !v.every(Number.isFinite)) {
    throw new CliError('HF_CLI_BAD_OPTION', `--region-jitter must be on, off or SHIFT,LOW,HIGH (three numbers), got '${text}'.`, { input: text, fix: 'e.g. --region-jitter 0.12,0.85,1.2 (what on means), or --region-jitter off (the default).' });
  }
  return { shift: v[0] as number, scale: [v[1] as number, v[2] as number] };
}

/** Builds the training configuration: paper protocol ← config file ← flags, validated as one. */
export function configFromFlags(values: Record<string, string | boolean | undefined>, defaults: Partial<TrainConfig> = {}): TrainConfig {
  let fromFile: Record<string, unknown> = {};
  const file = values['config'];
  if (typeof file === 'string') {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new CliError('HF_CLI_BAD_CONFIG_FILE', `cannot read the config file: ${(error as Error).message}`, { input: file, fix: 'pass a JSON object with TrainConfig keys (see docs/training.md).' });
    }
  }
  const overrides: Record<string, unknown> = { ...defaults, ...fromFile };
  for (const [flag, key] of Object.entries(NUMERIC)) {
    const v = values[flag];
    if (typeof v === 'string') overrides[key] = v.trim() === '' ? v : Number(v);
  }
  if (typeof values['arch'] === 'string') overrides['arch'] = architectureOption(values['arch']);
  if (typeof values['optimizer'] === 'string') overrides['optimizer'] = values['optimizer'];
  if (typeof values['head'] === 'string') overrides['head'] = values['head'];
  if (typeof values['crop'] === 'string') overrides['crop'] = values['crop'];
  if (typeof values['region-jitter'] === 'string') overrides['regionJitter'] = regionJitterOption(values['region-jitter']);
  if (typeof values['box-head'] === 'string') overrides['boxHead'] = values['box-head'];
  if (typeof values['monitor'] === 'string') overrides['monitor'] = values['monitor'];
  if (typeof values['precision'] === 'string') overrides['precision'] = values['precision'];
  if (typeof values['progressive'] === 'string') {
    try {
      overrides['progressive'] = parseSizeSteps(values['progressive']);
    } catch (error) {
      throw new CliError('HF_CLI_BAD_OPTION', `--progressive: ${(error as Error).message}`, { input: values['progressive'], ...(error instanceof HipfracError && error.fix !== undefined ? { fix: error.fix } : {}) });
    }
  }
  if (values['no-augment'] === true) overrides['augment'] = false;
  if (values['no-lr-find'] === true) overrides['lrFind'] = false;
  if (values['balanced'] === true) overrides['balanced'] = true;
  if (values['mask-markers'] === true) overrides['maskMarkers'] = true;
  if (values['scratch'] === true) overrides['pretrained'] = false;
  // The study's head-only stage and slice(lr/100, lr) protect pretrained features; a random body has none to
  // protect, and lr/100 on its first layers keeps it random (measured: from scratch on the phantom the loss never
  // left chance with them). Unless set explicitly, from-scratch runs train every layer at one rate.
  if (overrides['pretrained'] === false) {
    overrides['frozenEpochs'] ??= 0;
    overrides['lrMult'] ??= 1;
  }
  try {
    return resolveConfig(overrides, typeof file === 'string' ? `${file} and command-line flags` : 'command-line flags');
  } catch (error) {
    // A value out of range on the command line is a usage error (exit 2); one from --config stays HF_TRAIN_BAD_CONFIG.
    if (error instanceof HipfracError && error.code === 'HF_TRAIN_BAD_CONFIG' && typeof file !== 'string') {
      throw new CliError('HF_CLI_BAD_OPTION', error.message.replace(/ \(input: .*$/s, ''), { input: 'command-line flags', ...(error.fix === undefined ? {} : { fix: error.fix }), cause: error });
    }
    throw error;
  }
}

export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'Train one architecture with the study protocol and write a report',
  usage: `Usage: hipfrac train --data DATASET --out RUN_DIR [options]

  --data DIR            dataset made by \`hipfrac import\` (split by patient if it has no split.json)
  --out DIR             run folder: model/ (checkpoint + model card), results.json, log.jsonl, report.html
  --resume              continue an interrupted run in --out (same options)
  --weights FILE        ImageNet weights (.pth from torchvision, or safetensors)
  --weights-dir DIR     folder searched by torchvision file name (default $HIPFRAC_WEIGHTS_DIR)
  --scratch             train from random weights (no ImageNet weights)
  --arch NAME           architecture (default ${paperProtocol.arch}; see \`hipfrac models\`)
  --config FILE         JSON with any TrainConfig keys (flags override it)
  --input-size N --batch-size N --frozen-epochs N --unfrozen-epochs N --patience N
  --lr X --unfrozen-lr X (default: LR finder's valley) --optimizer adam|adamw|sgd --head fastai|linear
  --ps X --label-smoothing X --weight-decay X --seed N --valid-fraction X --no-augment --balanced
  --progressive S:E,... progressive resizing: the first all-layer epochs at smaller sizes (e.g. 192:4,256:4:
                        4 epochs at 192 px, 4 at 256, the rest at --input-size); only the
                        epochs at --input-size are validated (and can be kept)
  --crop none|roi       roi: cut each image to its hip region (hip_roi_* columns at import) before resizing
  --region-jitter S,LO,HI|on|off  with --crop roi, training only: move each training crop's region by up to
                        S of its size and scale it by LO..HI, drawn per epoch from --seed, so the classifier
                        tolerates misplaced regions (default off: the exact regions; on: 0.12,0.85,1.2;
                        validation, test and predict always cut the regions as given)
  --box-loss-weight W   box supervision (default 0: off): a heatmap head learns the data's fracture boxes
                        (FracAtlas, the phantom); the model then also predicts fracture boxes
  --box-peak-weight P   with box supervision, also train where the heatmap peaks (default 0: off)
  --box-head last|fine  the box head reads the last feature map (default), or also the finer one before it
                        (fine: four times the cells; ResNets, DenseNets, EfficientNets)
  --mask-markers        fill burned-in markers and text of training images with local background
  --monitor accuracy|roc-auc  what keeps the best epoch and stops early: validation accuracy (default, the
                        study's) or the fracture ROC-AUC, which class-balanced batches cannot game
  --precision fp32|bf16 the training forward pass in float32 (default) or bfloat16 autocast (float32 weights,
                        gradients and optimiser; validation and the checkpoint stay float32): a step 1.9x
                        faster on an AVX-512 BF16 CPU (docs/training.md)
  --workers N           image-decoding threads (default 2)
  --device D            cpu (default), cuda or cuda:N (needs the CUDA build, docs/gpu.md)

Data-parallel (torchrun's names; docs/distributed.md): one process per rank, Gloo on CPU, NCCL on CUDA.
  --nproc-per-node N    ranks on this node; --batch-size stays the global batch (split over all ranks)
  --nnodes M --node-rank R --master-addr HOST --master-port P (default 1, 0, 127.0.0.1, 29500)
  --dist-timeout S      seconds before a stalled collective fails every rank (default 300)
  --sync-bn             BatchNorm with the global batch's statistics over all ranks (SyncBatchNorm); costs one
                        all-gather per BatchNorm layer forward and one all-reduce per layer backward

Defaults are the study's protocol: 224 px, batch 32, 8 head-only epochs, then all layers with
discriminative LRs under one-cycle, early stopping after 7 epochs without validation-accuracy gain.`,
  async run(argv): Promise<number> {
    const { values } = parseArgs({
      args: [...argv],
      options: { ...CONFIG_FLAGS, ...LAUNCH_FLAGS, data: { type: 'string' }, out: { type: 'string' }, resume: { type: 'boolean' }, weights: { type: 'string' }, 'weights-dir': { type: 'string' }, workers: { type: 'string' } },
      strict: true,
    });
    if (values.data === undefined || values.out === undefined) {
      throw new CliError('HF_CLI_MISSING_OPTION', 'train needs --data and --out.', { fix: 'e.g. hipfrac train --data datasets/hips --out runs/densenet169' });
    }
    const rank = rankFromEnvironment();
    const syncBn = values['sync-bn'] === true;
    if (syncBn && values['nproc-per-node'] === undefined && rank === null) {
      throw new CliError('HF_CLI_BAD_OPTION', '--sync-bn shares BatchNorm statistics between the ranks of a data-parallel run; this run has one process.', {
        fix: 'add --nproc-per-node N (N ≥ 2), or leave --sync-bn out.',
      });
    }
    const config = configFromFlags(values);
    const workers = values.workers === undefined ? undefined : positiveInt(values.workers, 2, '--workers');
    requireDataset(values.data);
    const timeoutMs = 1000 * Number(values['dist-timeout'] ?? 300);
    if (values['nproc-per-node'] !== undefined && rank === null) {
      // The launcher: the ranks re-run this command with torchrun's environment variables set.
      checkDistributedConfig(config, Number(values['nproc-per-node']) * Number(values.nnodes ?? 1));
      await launchRanks({
        nprocPerNode: Number(values['nproc-per-node']),
        nnodes: Number(values.nnodes ?? 1),
        nodeRank: Number(values['node-rank'] ?? 0),
        masterAddr: values['master-addr'] ?? '127.0.0.1',
        masterPort: Number(values['master-port'] ?? 29500),
        script: process.argv[1] as string,
        args: ['train', ...argv],
        graceMs: timeoutMs + 30_000,
      });
      return 0;
    }
    const run = await trainRun({
      datasetDir: values.data,
      outDir: values.out,
      config,
      resume: values.resume === true,
      ...(values.weights !== undefined ? { weights: values.weights } : {}),
      ...(values['weights-dir'] !== undefined ? { weightsDir: values['weights-dir'] } : {}),
      ...(workers !== undefined ? { workers } : {}),
      device: values.device,
      ...(rank === null ? {} : { distributed: { ...rank, timeoutMs, syncBn } }),
    });
    if (rank !== null && rank.rank !== 0) return 0; // rank 0 alone writes the report
    const report = await writeRunReport({ run, config, datasetDir: values.data, outDir: values.out });
    const m = run.evaluation.metrics.metrics;
    console.log(`${config.arch}: accuracy ${(100 * m.accuracy).toFixed(1)} %, AUC ${m.rocAuc.toFixed(3)} on ${run.evaluation.n} ${run.evaluation.set} images`);
    console.log(`checkpoint: ${path.resolve(run.checkpointDir)}`);
    console.log(`report: ${path.resolve(report)}`);
    return 0;
  },
};

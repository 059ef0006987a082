// The study's training protocol as one typed, validated, frozen configuration object (units in
// comments); CLI flags and config files override it, and every problem is reported at once.
import { regionJitterProblems, type RegionJitter } from '../data/index.js';
import { PRECISIONS, type Precision } from '../torch/index.js';
import { TrainError } from './errors.js';
import type { SizeStep } from './progressive.js';

export interface TrainConfig {
  /** Architecture name from the model registry. */
  readonly arch: string;
  /** Input size in pixels (square). */
  readonly inputSize: number;
  /**
   * Progressive resizing: the first all-layer epochs at smaller sizes, in order ({size, epochs} steps), the rest at
   * inputSize; only the epochs at inputSize are validated. Empty (the default): every epoch at inputSize.
   */
  readonly progressive: readonly SizeStep[];
  /**
   * 'none': the whole image is resized to the input size (the study). 'roi': each image's region of interest
   * (the hip; from the label file at import) is cut out first — the cascade the study proposed as future work.
   */
  readonly crop: 'none' | 'roi';
  /**
   * With crop 'roi': each training image's region moved by up to `shift` of its size and scaled by a factor in
   * `scale`, drawn per epoch from the seed, so the classifier tolerates the localiser's misplaced regions at predict
   * time (validation, test and predict cut the regions as given). null (the default): the exact regions; it did not
   * raise the AUC on the localiser's regions in bench/localiser-auc.ts (docs/real-images.md), so it is opt-in
   * (`--region-jitter on` is defaultRegionJitter: shift 0.12, scale 0.85–1.2). Ignored with crop 'none'.
   */
  readonly regionJitter: RegionJitter | null;
  readonly batchSize: number;
  /** Head-only epochs before unfreezing (the study: 8). */
  readonly frozenEpochs: number;
  /** Maximum epochs after unfreezing; early stopping usually ends sooner. */
  readonly unfrozenEpochs: number;
  /** Early stopping: epochs without validation-accuracy gain (the study: 7). */
  readonly patience: number;
  /** Max LR for the head stage; null = the LR finder's suggestion. */
  readonly lr: number | null;
  /** Max LR of the last group after unfreezing; earlier groups get lr/lrMult … lr (fastai slice(lr/100, lr)); null = LR finder. */
  readonly unfrozenLr: number | null;
  readonly lrMult: number;
  /** Run the LR range test before each stage (the study ran it twice). */
  readonly lrFind: boolean;
  readonly div: number;
  readonly divFinal: number;
  readonly pctStart: number;
  /** Adam β1 cycle (high, low, high). */
  readonly moms: readonly [number, number, number];
  readonly beta2: number;
  /** Weight decay; decoupled with 'adamw' (fastai's Adam with true_wd=True, the default), L2 with 'adam'. */
  readonly weightDecay: number;
  readonly optimizer: 'adam' | 'adamw' | 'sgd';
  /** Dropout of the fastai head's last layer (ps/2 before the first). */
  readonly ps: number;
  readonly head: 'fastai' | 'linear';
  readonly labelSmoothing: number;
  /**
   * Weight of the box-supervision loss (0: off). Above 0 the classifier gets a box head (a 1×1 convolution on the last
   * feature map) trained against the fracture boxes the data carry (FracAtlas, the phantom), and predicts fracture boxes.
   */
  readonly boxLossWeight: number;
  /**
   * Weight of the box-peak loss (0: off; needs boxLossWeight > 0): trains where the box head's heatmap peaks (a
   * softmax over its cells against the boxes), which the per-cell binary loss barely does for small fractures.
   */
  readonly boxPeakWeight: number;
  /**
   * Which maps the box head reads: 'last' (the last feature map) or 'fine' (that map and the finer one before it,
   * four times the cells; ResNets).
   */
  readonly boxHead: 'last' | 'fine';
  /** Fill burned-in markers and text of the training images with local background (a shortcut defence). */
  readonly maskMarkers: boolean;
  readonly augment: boolean;
  readonly balanced: boolean;
  /**
   * What chooses the epoch kept and stops early: validation `accuracy` (the study's) or `roc-auc` of the fracture
   * probability (threshold- and balance-free; see Monitor in callbacks.ts).
   */
  readonly monitor: 'accuracy' | 'roc-auc';
  /**
   * The training forward pass's precision: 'fp32' (the study's) or 'bf16' (autocast to bfloat16; float32 weights,
   * gradients and optimiser; validation, evaluation and the checkpoint stay float32). See docs/training.md.
   */
  readonly precision: Precision;
  readonly pretrained: boolean;
  readonly seed: number;
  /** Share of patients held out for validation. */
  readonly validFraction: number;
}

export const paperProtocol: TrainConfig = Object.freeze({
  arch: 'densenet169',
  inputSize: 224,
  progressive: [],
  crop: 'none',
  regionJitter: null,
  batchSize: 32,
  frozenEpochs: 8,
  unfrozenEpochs: 30,
  patience: 7,
  lr: null,
  unfrozenLr: null,
  lrMult: 100,
  lrFind: true,
  div: 25,
  divFinal: 1e5,
  pctStart: 0.25,
  moms: [0.95, 0.85, 0.95] as const,
  beta2: 0.99,
  weightDecay: 0.01,
  optimizer: 'adamw',
  ps: 0.5,
  head: 'fastai',
  labelSmoothing: 0,
  boxLossWeight: 0,
  boxPeakWeight: 0,
  boxHead: 'last',
  maskMarkers: false,
  augment: true,
  balanced: false,
  monitor: 'accuracy',
  precision: 'fp32',
  pretrained: true,
  seed: 42,
  validFraction: 0.2,
} satisfies TrainConfig);

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
  readonly received: unknown;
}

const INT_FIELDS = ['inputSize', 'batchSize', 'frozenEpochs', 'unfrozenEpochs', 'patience', 'seed'] as const;

/** Checks a partial config; returns every problem found (empty when valid). */
export function checkConfig(input: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const known = new Set(Object.keys(paperProtocol));
  for (const key of Object.keys(input)) if (!known.has(key)) issues.push({ path: key, message: 'unknown option', received: input[key] });
  for (const key of INT_FIELDS) {
    const v = input[key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < (key === 'seed' || key.endsWith('Epochs') ? 0 : 1))) {
      issues.push({ path: key, message: key === 'seed' || key.endsWith('Epochs') ? 'must be an integer ≥ 0' : 'must be an integer ≥ 1', received: v });
    }
  }
  const positive = (key: string, allowNull: boolean): void => {
    const v = input[key];
    if (v === undefined || (allowNull && v === null)) return;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) issues.push({ path: key, message: `must be a positive number${allowNull ? ' or null' : ''}`, received: v });
  };
  positive('lr', true);
  positive('unfrozenLr', true);
  positive('lrMult', false);
  positive('div', false);
  positive('divFinal', false);
  const unit = (key: string, open = false): void => {
    const v = input[key];
    if (v === undefined) return;
    if (typeof v !== 'number' || v < 0 || v > 1 || (open && (v === 0 || v === 1))) issues.push({ path: key, message: open ? 'must be in (0, 1)' : 'must be in [0, 1]', received: v });
  };
  unit('pctStart', true);
  unit('beta2', true);
  unit('ps');
  unit('labelSmoothing');
  unit('validFraction', true);
  if (input['weightDecay'] !== undefined && (typeof input['weightDecay'] !== 'number' || (input['weightDecay'] as number) < 0)) {
    issues.push({ path: 'weightDecay', message: 'must be a number ≥ 0', received: input['weightDecay'] });
  }
  const oneOf = (key: string, values: readonly string[]): void => {
    const v = input[key];
    if (v !== undefined && !values.includes(v as string)) issues.push({ path: key, message: `must be one of ${values.join(', ')}`, received: v });
  };
  oneOf('optimizer', ['adam', 'adamw', 'sgd']);
  oneOf('head', ['fastai', 'linear']);
  oneOf('crop', ['none', 'roi']);
  const jitter = input['regionJitter'];
  if (jitter !== undefined && jitter !== null) for (const problem of regionJitterProblems(jitter)) issues.push({ path: 'regionJitter', message: problem, received: jitter });
  oneOf('boxHead', ['last', 'fine']);
  oneOf('monitor', ['accuracy', 'roc-auc']);
  oneOf('precision', PRECISIONS);
  const boxWeight = input['boxLossWeight'];
  if (boxWeight !== undefined && (typeof boxWeight !== 'number' || !(boxWeight >= 0) || !Number.isFinite(boxWeight))) issues.push({ path: 'boxLossWeight', message: 'must be a number ≥ 0', received: boxWeight });
  const peakWeight = input['boxPeakWeight'];
  if (peakWeight !== undefined && (typeof peakWeight !== 'number' || !(peakWeight >= 0) || !Number.isFinite(peakWeight))) issues.push({ path: 'boxPeakWeight', message: 'must be a number ≥ 0', received: peakWeight });
  else if (typeof peakWeight === 'number' && peakWeight > 0 && !(typeof boxWeight === 'number' && boxWeight > 0)) issues.push({ path: 'boxPeakWeight', message: 'needs boxLossWeight > 0 (the box head it trains exists only with box supervision)', received: peakWeight });
  for (const key of ['lrFind', 'augment', 'balanced', 'pretrained', 'maskMarkers']) {
    const v = input[key];
    if (v !== undefined && typeof v !== 'boolean') issues.push({ path: key, message: 'must be true or false', received: v });
  }
  checkProgressive(input, issues);
  const moms = input['moms'];
  if (moms !== undefined && (!Array.isArray(moms) || moms.length !== 3 || moms.some((m) => typeof m !== 'number' || m < 0 || m >= 1))) {
    issues.push({ path: 'moms', message: 'must be three numbers in [0, 1)', received: moms });
  }
  if (input['arch'] !== undefined && typeof input['arch'] !== 'string') issues.push({ path: 'arch', message: 'must be an architecture name', received: input['arch'] });
  return issues;
}

/** Progressive steps: sizes from 32 px to below the input size, at least one epoch each, and the input size's epochs last. */
function checkProgressive(input: Record<string, unknown>, issues: ConfigIssue[]): void {
  const steps = input['progressive'];
  if (steps === undefined) return;
  const inputSize = typeof input['inputSize'] === 'number' ? input['inputSize'] : paperProtocol.inputSize;
  const epochs = typeof input['unfrozenEpochs'] === 'number' ? input['unfrozenEpochs'] : paperProtocol.unfrozenEpochs;
  if (!Array.isArray(steps)) {
    issues.push({ path: 'progressive', message: 'must be a list of {size, epochs} steps', received: steps });
    return;
  }
  let total = 0;
  steps.forEach((step: unknown, i) => {
    const { size, epochs: n } = (typeof step === 'object' && step !== null ? step : {}) as { size?: unknown; epochs?: unknown };
    if (!Number.isInteger(size) || (size as number) < 32 || (size as number) >= inputSize) issues.push({ path: `progressive[${i}].size`, message: `must be an integer from 32 to below the input size (${inputSize})`, received: size });
    if (!Number.isInteger(n) || (n as number) < 1) issues.push({ path: `progressive[${i}].epochs`, message: 'must be an integer ≥ 1', received: n });
    else total += n as number;
  });
  if (steps.length > 0 && total >= epochs) issues.push({ path: 'progressive', message: `its steps take ${total} epochs, the run has ${epochs} (unfrozenEpochs): leave at least one at the input size`, received: steps });
}

/** Merges overrides into the paper protocol, throwing one error that lists every problem. */
export function resolveConfig(overrides: Record<string, unknown> = {}, source = 'options'): TrainConfig {
  const issues = checkConfig(overrides);
  if (issues.length > 0) {
    const lines = issues.map((i) => `${i.path}: ${i.message} (got ${JSON.stringify(i.received)})`);
    throw new TrainError('HF_TRAIN_BAD_CONFIG', `invalid training configuration: ${lines.join('; ')}.`, {
      input: source,
      fix: `correct the listed option(s); valid options: ${Object.keys(paperProtocol).join(', ')}.`,
    });
  }
  return Object.freeze({ ...paperProtocol, ...overrides }) as TrainConfig;
}

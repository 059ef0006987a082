// The metric set per subgroup (radiograph view AP/lateral, implant yes/no, QC flag, …) with case counts,
// so a report can show where the model is weaker, as the study's discussion of lateral views does.
import { checkBinaryInputs, MetricsError, type LabelArray, type NumberArray } from './errors.js';
import { binaryMetrics, type BinaryEvaluation, type ThresholdOption } from './binary.js';
import { bootstrapMetrics, type BootstrapOptions, type MetricIntervals } from './bootstrap.js';

/** A case's value for one factor; null/undefined mean "not known" and form their own group. */
export type GroupValue = string | number | boolean | null | undefined;

export interface GroupEvaluation extends BinaryEvaluation {
  /** The factor's name, e.g. `view`. */
  readonly factor: string;
  /** The group's value as text: booleans become yes/no, unknown values `unknown`. */
  readonly group: string;
  /** Present when `bootstrap` was asked for. */
  readonly intervals?: MetricIntervals;
}

export interface BreakdownOptions extends ThresholdOption {
  /** Bootstrap options for per-group intervals; leave out for point estimates only. */
  readonly bootstrap?: BootstrapOptions;
  /** Name of the group for missing values (default `unknown`). */
  readonly unknownGroup?: string;
}

function groupName(value: GroupValue, unknown: string): string {
  if (value === null || value === undefined) return unknown;
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

/**
 * Evaluates each group of each factor. `factors` maps a factor name to one value per case, e.g.
 * `{ view: ['AP', 'lateral', …], implant: [false, true, …] }`. Groups come in name order, unknown last.
 */
export function metricsByGroup(probs: NumberArray, labels: LabelArray, factors: Readonly<Record<string, readonly GroupValue[]>>,
  options: BreakdownOptions = {}): GroupEvaluation[] {
  checkBinaryInputs('metricsByGroup', probs, labels);
  const unknown = options.unknownGroup ?? 'unknown';
  const out: GroupEvaluation[] = [];
  for (const [factor, values] of Object.entries(factors)) {
    if (values.length !== probs.length) {
      throw new MetricsError('HF_METRICS_LENGTH_MISMATCH', `metricsByGroup: factor ${factor} has ${values.length} values for ${probs.length} cases.`,
        `factors.${factor}`, 'give one value per case (null when unknown)');
    }
    const members = new Map<string, number[]>();
    values.forEach((v, i) => {
      const g = groupName(v, unknown);
      const list = members.get(g);
      if (list === undefined) members.set(g, [i]);
      else list.push(i);
    });
    const names = [...members.keys()].sort((a, b) => (a === unknown ? 1 : 0) - (b === unknown ? 1 : 0) || a.localeCompare(b));
    for (const group of names) {
      const idx = members.get(group) as number[];
      const groupProbs = idx.map((i) => probs[i] as number);
      const groupLabels = idx.map((i) => labels[i] as number);
      const evaluation = binaryMetrics(groupProbs, groupLabels, options);
      const intervals = options.bootstrap === undefined
        ? undefined
        : bootstrapMetrics(groupProbs, groupLabels, { ...options.bootstrap, ...(options.threshold === undefined ? {} : { threshold: options.threshold }) }).intervals;
      out.push({ factor, group, ...evaluation, ...(intervals === undefined ? {} : { intervals }) });
    }
  }
  return out;
}

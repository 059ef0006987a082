// Compares several models on the same test cases: the metric set with bootstrap intervals per model and
// McNemar's paired test of each model against the best (highest accuracy, as the study ranks them), its p-values
// Holm-corrected over the family of comparisons.
import { badOption, checkBinaryInputs, type LabelArray, type NumberArray } from './errors.js';
import { DEFAULT_THRESHOLD } from './confusion.js';
import { binaryMetrics, type BinaryEvaluation } from './binary.js';
import { bootstrapMetrics, type BootstrapOptions, type MetricIntervals } from './bootstrap.js';
import { mcnemarTest, type McNemarOptions, type McNemarResult } from './mcnemar.js';
import { holmAdjust } from './multiplicity.js';

export interface ModelComparison {
  readonly model: string;
  readonly evaluation: BinaryEvaluation;
  readonly intervals: MetricIntervals;
  readonly isBest: boolean;
  /** Against the best model; absent for the best itself. */
  readonly mcnemar?: McNemarResult;
  /** `mcnemar.pValue` Holm-adjusted over the m − 1 comparisons against the best; absent for the best itself. */
  readonly mcnemarHolm?: number;
}

export interface CompareOptions {
  readonly threshold?: number;
  readonly bootstrap?: BootstrapOptions;
  readonly mcnemar?: McNemarOptions;
}

/**
 * Evaluates every model's fracture probabilities on the same cases (same order) and tests each against the
 * best by accuracy (ties: higher ROC-AUC, then the earlier model). Results come best first.
 * @example compareModels(labels, { densenet169: p1, resnet50: p2 })
 */
export function compareModels(labels: LabelArray, probsByModel: Readonly<Record<string, NumberArray>>, options: CompareOptions = {}): ModelComparison[] {
  const threshold = options.threshold ?? DEFAULT_THRESHOLD;
  const models = Object.keys(probsByModel);
  if (models.length === 0) throw badOption('compareModels', 'probsByModel', '{}', 'at least one model');
  const rows = models.map((model, order) => {
    const probs = probsByModel[model] as NumberArray;
    checkBinaryInputs(`compareModels (model ${model})`, probs, labels);
    const evaluation = binaryMetrics(probs, labels, { threshold });
    const intervals = bootstrapMetrics(probs, labels, { ...options.bootstrap, threshold }).intervals;
    const predicted = Array.from(probs, (p) => (p >= threshold ? 1 : 0));
    return { model, order, evaluation, intervals, predicted };
  });
  const auc = (r: (typeof rows)[number]): number => (Number.isNaN(r.evaluation.metrics.rocAuc) ? -1 : r.evaluation.metrics.rocAuc);
  rows.sort((a, b) => b.evaluation.metrics.accuracy - a.evaluation.metrics.accuracy || auc(b) - auc(a) || a.order - b.order);
  const best = rows[0] as (typeof rows)[number];
  const tests = rows.map((r) => (r === best ? undefined : mcnemarTest(labels, best.predicted, r.predicted, options.mcnemar)));
  const tested = tests.filter((t): t is McNemarResult => t !== undefined);
  const adjusted = holmAdjust(tested.map((t) => t.pValue));
  let k = 0;
  return rows.map((r, i) => {
    const test = tests[i];
    return {
      model: r.model,
      evaluation: r.evaluation,
      intervals: r.intervals,
      isBest: r === best,
      ...(test === undefined ? {} : { mcnemar: test, mcnemarHolm: adjusted[k++] as number }),
    };
  });
}

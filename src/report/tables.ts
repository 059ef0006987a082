// HTML tables for the report: metrics with intervals, the model comparison (the study's Figure 3 extended),
// confusion matrices, subgroup breakdowns and key/value configuration. Every value is escaped.
import type { BinaryConfusion, GroupEvaluation, Interval, McNemarResult, MetricName } from '../train/metrics/index.js';
import { ReportError } from './errors.js';
import { escapeHtml, formatCount, formatDuration, formatNumber, formatPValue, isInterval, metricCell, type MetricFormat } from './html.js';
import { assertNotIdentifying } from './privacy.js';

interface MetricInfo { readonly label: string; readonly format: MetricFormat; readonly help: string }

/** How each metric is named and shown; other names are shown as given, as decimals. */
export const METRIC_INFO: Readonly<Record<MetricName | 'ece' | 'mce' | 'nll' | 'brier', MetricInfo>> = {
  accuracy: { label: 'Accuracy', format: 'percent', help: 'share of cases called correctly' },
  precision: { label: 'Precision (PPV)', format: 'percent', help: 'share of fracture calls that are fractures' },
  recall: { label: 'Recall', format: 'percent', help: 'share of fractures found' },
  f1: { label: 'F1', format: 'percent', help: 'harmonic mean of precision and recall' },
  sensitivity: { label: 'Sensitivity', format: 'percent', help: 'share of fractures found (= recall)' },
  specificity: { label: 'Specificity', format: 'percent', help: 'share of intact hips called intact' },
  rocAuc: { label: 'ROC-AUC', format: 'decimal', help: 'probability a fracture scores above an intact hip' },
  prAuc: { label: 'PR-AUC (AP)', format: 'decimal', help: 'average precision over recall levels' },
  ece: { label: 'ECE', format: 'decimal', help: 'expected calibration error (lower is better)' },
  mce: { label: 'MCE', format: 'decimal', help: 'largest calibration gap of a bin' },
  nll: { label: 'NLL', format: 'decimal', help: 'mean negative log-likelihood' },
  brier: { label: 'Brier score', format: 'decimal', help: 'mean squared error of the probability' },
};

function infoOf(name: string): MetricInfo {
  return (METRIC_INFO as Readonly<Record<string, MetricInfo>>)[name] ?? { label: name, format: 'decimal', help: '' };
}

function caption(text: string | undefined): string {
  return text === undefined ? '' : `<caption>${escapeHtml(text)}</caption>`;
}

export interface MetricsTableOptions {
  readonly caption?: string;
  /** Coverage of the intervals, for the column title (default 0.95). */
  readonly confidence?: number;
}

/**
 * Metric | value | interval, for numbers or bootstrap intervals (e.g. `bootstrapMetrics(...).intervals`).
 * @example metricsTable({ ...boot.intervals, ece: calibration.ece })
 */
export function metricsTable(metrics: Readonly<Record<string, number | Interval>>, options: MetricsTableOptions = {}): string {
  const level = Math.round((options.confidence ?? 0.95) * 100);
  const body = Object.entries(metrics).map(([name, value]) => {
    const info = infoOf(name);
    const iv = isInterval(value) ? value : undefined;
    const point = formatNumber(iv === undefined ? (value as number) : iv.estimate, info.format);
    const range = iv === undefined || !Number.isFinite(iv.lower) ? '' : `${formatNumber(iv.lower, info.format)} – ${formatNumber(iv.upper, info.format)}`;
    return `<tr><th scope="row" title="${escapeHtml(info.help)}">${escapeHtml(info.label)}</th><td class="num">${escapeHtml(point)}</td><td class="num muted">${escapeHtml(range)}</td></tr>`;
  }).join('');
  return `<table class="metrics">${caption(options.caption)}<thead><tr><th>Metric</th><th class="num">Value</th><th class="num">${level} % interval</th></tr></thead><tbody>${body}</tbody></table>`;
}

export interface ComparisonRow {
  readonly model: string;
  readonly accuracy: number | Interval;
  readonly precision?: number | Interval;
  readonly recall?: number | Interval;
  readonly f1?: number | Interval;
  readonly rocAuc?: number | Interval;
  readonly parameters?: number;
  readonly trainingSeconds?: number;
  readonly imagesPerSecond?: number;
  /** McNemar's test against the best model; leave out for the best model itself. */
  readonly mcnemar?: McNemarResult;
  /** Its p-value Holm-adjusted over the table's comparisons; shown instead of the raw p when given. */
  readonly mcnemarHolm?: number;
}

const estimateOf = (v: number | Interval | undefined): number => (v === undefined ? Number.NaN : isInterval(v) ? v.estimate : v);

/** McNemar's p against the best: the Holm-adjusted value when given (the raw one in the tooltip), else the raw. */
function mcnemarCell(m: McNemarResult, holm: number | undefined): string {
  const shown = holm ?? m.pValue;
  const detail = `b = ${m.b}, c = ${m.c}, ${m.method === 'exact' ? 'exact binomial' : 'χ² with continuity correction'}, statistic ${m.statistic.toFixed(3)}${holm === undefined ? '' : `, unadjusted p ${formatPValue(m.pValue)}`}`;
  return `<td class="num${shown < 0.05 ? ' significant' : ''}" title="${escapeHtml(detail)}">${escapeHtml(formatPValue(shown))}</td>`;
}

/**
 * The comparison table (the study's Figure 3 — model and accuracy — extended with precision, recall, F1,
 * AUC with intervals, parameters, training time, throughput and McNemar's p against the best model).
 * Rows are sorted by accuracy; the best is marked; intervals appear below each value.
 */
export function comparisonTable(rows: readonly ComparisonRow[], options: { caption?: string } = {}): string {
  // On equal accuracy the reference of the McNemar tests (the row without one) comes first.
  const sorted = [...rows].sort((a, b) => estimateOf(b.accuracy) - estimateOf(a.accuracy)
    || (a.mcnemar === undefined ? 0 : 1) - (b.mcnemar === undefined ? 0 : 1));
  const columns: { key: keyof ComparisonRow & MetricName; label: string }[] = [
    { key: 'accuracy', label: 'Accuracy' }, { key: 'precision', label: 'Precision' }, { key: 'recall', label: 'Recall' },
    { key: 'f1', label: 'F1' }, { key: 'rocAuc', label: 'AUC' },
  ];
  const bestOf = new Map(columns.map((c) => [c.key, Math.max(...sorted.map((r) => estimateOf(r[c.key])).filter(Number.isFinite))]));
  const body = sorted.map((r, i) => {
    const cells = columns.map((c) => {
      const v = r[c.key];
      if (v === undefined) return '<td class="num muted">—</td>';
      const top = estimateOf(v) === bestOf.get(c.key) ? ' best' : '';
      return `<td class="num${top}">${metricCell(v, infoOf(c.key).format)}</td>`;
    }).join('');
    const p = r.mcnemar === undefined
      ? (i === 0 ? '<td class="num muted">reference</td>' : '<td class="num muted">—</td>')
      : mcnemarCell(r.mcnemar, r.mcnemarHolm);
    const badge = i === 0 ? ' <span class="badge">best</span>' : '';
    return `<tr><th scope="row">${escapeHtml(r.model)}${badge}</th>${cells}`
      + `<td class="num">${escapeHtml(r.parameters === undefined ? '—' : formatCount(r.parameters))}</td>`
      + `<td class="num">${escapeHtml(r.trainingSeconds === undefined ? '—' : formatDuration(r.trainingSeconds))}</td>`
      + `<td class="num">${escapeHtml(r.imagesPerSecond === undefined ? '—' : r.imagesPerSecond.toFixed(1))}</td>${p}</tr>`;
  }).join('');
  const holm = sorted.some((r) => r.mcnemarHolm !== undefined);
  const head = ['Model', ...columns.map((c) => c.label), 'Parameters', 'Training time', 'img/s', holm ? 'McNemar p vs best (Holm)' : 'McNemar p vs best']
    .map((h, k) => `<th${k === 0 ? '' : ' class="num"'}>${escapeHtml(h)}</th>`).join('');
  return `<div class="table-scroll"><table class="comparison">${caption(options.caption)}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/**
 * Confusion matrix (rows actual, columns predicted), each cell shaded by its share of the row.
 * Takes a binary confusion (`{tp, fp, tn, fn}`) or a C×C count matrix.
 */
export function confusionMatrixHtml(matrix: BinaryConfusion | readonly (readonly number[])[], classNames: readonly string[] = ['no fracture', 'fracture']): string {
  const m: readonly (readonly number[])[] = Array.isArray(matrix)
    ? matrix
    : [[(matrix as BinaryConfusion).tn, (matrix as BinaryConfusion).fp], [(matrix as BinaryConfusion).fn, (matrix as BinaryConfusion).tp]];
  if (m.length !== classNames.length || m.some((row) => row.length !== classNames.length)) {
    throw new ReportError('HF_REPORT_BAD_DATA', `confusionMatrixHtml: a ${m.length}-row matrix for ${classNames.length} class names.`,
      'classNames', 'give one name per class, in class-index order');
  }
  const head = classNames.map((c) => `<th scope="col" class="num">${escapeHtml(c)}</th>`).join('');
  const body = m.map((row, a) => {
    const total = row.reduce((s, v) => s + v, 0);
    const cells = row.map((v, p) => {
      const share = total > 0 ? v / total : 0;
      const hue = a === p ? '31, 111, 235' : '207, 34, 46';
      const style = `background: rgba(${hue}, ${(0.08 + 0.6 * share).toFixed(3)})`;
      return `<td class="num cm-cell" style="${style}"><span class="cm-count">${escapeHtml(v)}</span><span class="cm-share">${escapeHtml((share * 100).toFixed(1))} %</span></td>`;
    }).join('');
    return `<tr><th scope="row">${escapeHtml(classNames[a])}</th>${cells}</tr>`;
  }).join('');
  return `<table class="confusion"><thead><tr><th class="corner">actual ↓ · predicted →</th>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/**
 * The metric set per subgroup (view, implant, QC flag …) with counts; intervals appear when the
 * breakdown was bootstrapped.
 */
export function breakdownTable(groups: readonly GroupEvaluation[], options: { caption?: string; metrics?: readonly MetricName[] } = {}): string {
  const shown = options.metrics ?? ['accuracy', 'sensitivity', 'specificity', 'f1', 'rocAuc'];
  const head = ['Factor', 'Group', 'Cases', 'Fractures', ...shown.map((m) => infoOf(m).label)]
    .map((h, k) => `<th${k >= 2 ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('');
  const body = groups.map((g, i) => {
    const first = i === 0 || groups[i - 1]?.factor !== g.factor;
    const cells = shown.map((m) => `<td class="num">${metricCell(g.intervals?.[m] ?? g.metrics[m], infoOf(m).format)}</td>`).join('');
    return `<tr${first ? ' class="group-start"' : ''}><th scope="row">${first ? escapeHtml(g.factor) : ''}</th><td>${escapeHtml(g.group)}</td>`
      + `<td class="num">${escapeHtml(g.n)}</td><td class="num">${escapeHtml(g.positives)}</td>${cells}</tr>`;
  }).join('');
  return `<div class="table-scroll"><table class="breakdown">${caption(options.caption)}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

function flatten(prefix: string, value: unknown, out: [string, string][]): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)) {
    for (const [k, v] of Object.entries(value)) {
      assertNotIdentifying(k, 'keyValueTable');
      flatten(prefix === '' ? k : `${prefix}.${k}`, v, out);
    }
    return;
  }
  let text: string;
  if (Array.isArray(value)) text = value.map((v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))).join(', ');
  else if (value instanceof Date) text = value.toISOString();
  else if (value === undefined) text = '—';
  else text = String(value);
  out.push([prefix, text]);
}

/**
 * Configuration or data summary as a two-column table; nested objects become dotted keys. Keys that name
 * patient identifiers (PatientName, PatientID, accession number …) are refused.
 */
export function keyValueTable(entries: Readonly<Record<string, unknown>>, options: { caption?: string } = {}): string {
  const out: [string, string][] = [];
  flatten('', entries, out);
  const body = out.map(([k, v]) => `<tr><th scope="row"><code>${escapeHtml(k)}</code></th><td>${escapeHtml(v)}</td></tr>`).join('');
  return `<table class="kv">${caption(options.caption)}<tbody>${body}</tbody></table>`;
}

// Plots as inline SVG rendered at build time in Node with vega-lite → vega (no browser, no server):
// learning curves, LR finder with the suggestion marked, ROC, precision-recall and reliability diagrams.
import { createHash } from 'node:crypto';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ReliabilityBin } from '../train/metrics/index.js';
import { ReportError } from './errors.js';

/** Shared look of every chart: the page's font, quiet grid, Tableau-like palette. */
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
export const PALETTE = ['#1f6feb', '#e8590c', '#2f9e44', '#c2255c', '#7048e8', '#0c8599', '#f08c00', '#495057'];

const CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: '#d0d7de' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, titleColor: '#24292f', labelColor: '#57606a', gridColor: '#eaeef2', domainColor: '#8c959f', tickColor: '#8c959f' },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'bottom', direction: 'vertical', labelLimit: 320 },
  title: { fontSize: 13, fontWeight: 600, anchor: 'start', color: '#24292f' },
  range: { category: PALETTE },
  line: { strokeWidth: 2 },
} as const;

/**
 * Renders a vega-lite spec to an SVG string. Element ids (clip paths, gradients) are prefixed per chart so
 * that several charts inlined in one page do not pick up each other's definitions.
 */
export async function renderVegaLite(spec: TopLevelSpec): Promise<string> {
  let svg: string;
  try {
    const vgSpec = compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
    const view = new View(parse(vgSpec), { renderer: 'none' });
    svg = await view.toSVG();
    view.finalize();
  } catch (cause) {
    throw new ReportError('HF_REPORT_CHART_FAILED', `A chart could not be rendered: ${(cause as Error).message}`,
      'chart specification', 'check the data passed to the chart helper (finite numbers, non-empty series)', cause);
  }
  // Prefix from the content: the same chart gets the same ids in every run (reproducible files), and two
  // charts only share ids when they are identical, where sharing is harmless.
  const prefix = `c${createHash('sha256').update(svg).digest('hex').slice(0, 10)}-`;
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}${id})`)
    .replace(/href="#([^"]+)"/g, (_, id: string) => `href="#${prefix}${id}"`)
    .replace('<svg ', `<svg role="img" preserveAspectRatio="xMinYMin meet" style="max-width:100%;height:auto" `);
}

export interface ChartSize {
  readonly width?: number;
  readonly height?: number;
  readonly title?: string;
}

export interface LineSeries {
  readonly name: string;
  readonly x: ArrayLike<number>;
  readonly y: ArrayLike<number>;
  /** Draw dashes (e.g. validation beside training). */
  readonly dashed?: boolean;
}

export interface ChartMarker {
  readonly x: number;
  readonly label: string;
  /** Also mark the curve's value at x with a dot when given. */
  readonly y?: number;
}

export interface LineChartOptions extends ChartSize {
  readonly xLabel: string;
  readonly yLabel: string;
  /** Logarithmic x axis (LR finder). */
  readonly logX?: boolean;
  readonly logY?: boolean;
  /** Vertical rules with a label, e.g. the suggested learning rate or the best epoch. */
  readonly markers?: readonly ChartMarker[];
  /** y-axis range; by default fitted to the data. */
  readonly yDomain?: readonly [number, number];
}

function checkSeries(what: string, name: string, x: ArrayLike<number>, y: ArrayLike<number>): void {
  if (x.length !== y.length) {
    throw new ReportError('HF_REPORT_BAD_DATA', `${what}: series "${name}" has ${x.length} x values and ${y.length} y values.`,
      name, 'give one y per x');
  }
}

interface Row { series: string; x: number; y: number; order: number }

function rows(what: string, series: readonly LineSeries[], logX: boolean, logY: boolean): Row[] {
  const out: Row[] = [];
  for (const s of series) {
    checkSeries(what, s.name, s.x, s.y);
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i] as number;
      const y = s.y[i] as number;
      // Undefined points (NaN loss, 0 on a log axis) break the line instead of failing the whole chart.
      if (!Number.isFinite(x) || !Number.isFinite(y) || (logX && x <= 0) || (logY && y <= 0)) continue;
      out.push({ series: s.name, x, y, order: i });
    }
  }
  if (out.length === 0) {
    throw new ReportError('HF_REPORT_BAD_DATA', `${what}: no finite points to plot.`, series.map((s) => s.name).join(', '),
      'pass at least one finite (x, y) pair');
  }
  return out;
}

/** Powers of ten spanning the data: the only ticks and grid lines of a log axis (vega adds 2…9 otherwise). */
function decades(data: readonly Row[]): number[] {
  let lo = Number.POSITIVE_INFINITY, hi = Number.NEGATIVE_INFINITY;
  for (const r of data) {
    lo = Math.min(lo, r.x);
    hi = Math.max(hi, r.x);
  }
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

/**
 * Line chart of one or more series (learning curves; the LR finder with `logX` and the suggestion as a marker).
 * @example await lineChart([{ name: 'train loss', x: epochs, y: losses }], { xLabel: 'epoch', yLabel: 'loss' })
 */
export async function lineChart(series: readonly LineSeries[], options: LineChartOptions): Promise<string> {
  const data = rows('lineChart', series, options.logX ?? false, options.logY ?? false);
  const names = series.map((s) => s.name);
  const dashed = series.filter((s) => s.dashed === true).map((s) => s.name);
  const scaleX = options.logX === true ? { type: 'log' as const } : { zero: false };
  const scaleY = { ...(options.logY === true ? { type: 'log' as const } : { zero: false }), ...(options.yDomain === undefined ? {} : { domain: [...options.yDomain] }) };
  const x = { field: 'x', type: 'quantitative' as const, title: options.xLabel, scale: scaleX, axis: options.logX === true ? { format: '.0e', values: decades(data) } : { format: '~g' } };
  const layers: unknown[] = [{
    data: { values: data },
    mark: { type: 'line', interpolate: 'linear' },
    encoding: {
      x,
      y: { field: 'y', type: 'quantitative', title: options.yLabel, scale: scaleY },
      // Colour and dash share one legend (shown for several series only), so dashed series read as dashed there too.
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: names }, legend: names.length > 1 ? {} : null },
      strokeDash: { field: 'series', type: 'nominal', title: null, scale: { domain: names, range: names.map((n) => (dashed.includes(n) ? [5, 3] : [1, 0])) }, legend: names.length > 1 ? {} : null },
      order: { field: 'order', type: 'quantitative' },
    },
  }];
  const markers = options.markers ?? [];
  if (markers.length > 0) {
    const marks = markers.map((m) => ({ x: m.x, label: m.label, ...(m.y === undefined ? {} : { y: m.y }) }));
    layers.push({ data: { values: marks }, mark: { type: 'rule', color: '#cf222e', strokeDash: [4, 3], strokeWidth: 1.5 }, encoding: { x: { field: 'x', type: 'quantitative', scale: scaleX } } });
    layers.push({ data: { values: marks }, mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 4, color: '#cf222e', fontSize: 11, fontWeight: 600 },
      encoding: { x: { field: 'x', type: 'quantitative', scale: scaleX }, y: { value: 0 }, text: { field: 'label' } } });
    const withY = marks.filter((m) => 'y' in m);
    if (withY.length > 0) {
      layers.push({ data: { values: withY }, mark: { type: 'point', filled: true, size: 70, color: '#cf222e' },
        encoding: { x: { field: 'x', type: 'quantitative', scale: scaleX }, y: { field: 'y', type: 'quantitative', scale: scaleY } } });
    }
  }
  return renderVegaLite({
    width: options.width ?? 360, height: options.height ?? 240,
    ...(options.title === undefined ? {} : { title: options.title }),
    layer: layers,
  } as TopLevelSpec);
}

export interface RocSeries {
  readonly name: string;
  readonly fpr: ArrayLike<number>;
  readonly tpr: ArrayLike<number>;
  /** Shown in the legend when given. */
  readonly auc?: number;
}

const legendName = (name: string, label: string, value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? name : `${name} (${label} ${value.toFixed(3)})`;

function curveRows(what: string, name: string, x: ArrayLike<number>, y: ArrayLike<number>): Row[] {
  checkSeries(what, name, x, y);
  const out: Row[] = [];
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i]) && Number.isFinite(y[i])) out.push({ series: name, x: x[i] as number, y: y[i] as number, order: i });
  }
  return out;
}

function unitSquareChart(data: Row[], names: string[], xLabel: string, yLabel: string, references: readonly unknown[], interpolate: string, options: ChartSize): Promise<string> {
  if (data.length === 0) {
    throw new ReportError('HF_REPORT_BAD_DATA', 'No finite curve points to plot (is one class missing from the labels?).',
      names.join(', '), 'evaluate on cases of both classes');
  }
  const unit = { domain: [0, 1], nice: false };
  return renderVegaLite({
    width: options.width ?? 320, height: options.height ?? 320,
    ...(options.title === undefined ? {} : { title: options.title }),
    layer: [
      ...references,
      {
        data: { values: data },
        mark: { type: 'line', interpolate, clip: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: xLabel, scale: unit },
          y: { field: 'y', type: 'quantitative', title: yLabel, scale: unit },
          color: { field: 'series', type: 'nominal', title: null, scale: { domain: names } },
          order: { field: 'order', type: 'quantitative' },
        },
      },
    ],
  } as TopLevelSpec);
}

/** ROC curves (several models in one plot for a comparison), with the chance diagonal. */
export async function rocChart(curves: readonly RocSeries[], options: ChartSize = {}): Promise<string> {
  const names = curves.map((c) => legendName(c.name, 'AUC', c.auc));
  const data = curves.flatMap((c, k) => curveRows('rocChart', names[k] as string, c.fpr, c.tpr));
  const chance = { data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }, mark: { type: 'line', color: '#8c959f', strokeDash: [4, 4], strokeWidth: 1 },
    encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } };
  return unitSquareChart(data, names, 'false positive rate (1 − specificity)', 'true positive rate (sensitivity)', [chance], 'linear', options);
}

export interface PrSeries {
  readonly name: string;
  readonly precision: ArrayLike<number>;
  readonly recall: ArrayLike<number>;
  /** Average precision, shown in the legend when given. */
  readonly ap?: number;
}

/** Precision-recall curves drawn as steps (the area under the steps is the average precision). */
export async function prChart(curves: readonly PrSeries[], options: ChartSize & { prevalence?: number } = {}): Promise<string> {
  const names = curves.map((c) => legendName(c.name, 'AP', c.ap));
  const data = curves.flatMap((c, k) => {
    const r = curveRows('prChart', names[k] as string, c.recall, c.precision);
    // Plot in increasing recall; each precision holds over the recall step ending at its point.
    return r.sort((a, b) => a.x - b.x || b.order - a.order).map((row, i) => ({ ...row, order: i }));
  });
  const prevalence = options.prevalence;
  // A classifier that guesses has precision equal to the fracture rate: drawn as the reference line.
  const baseline = prevalence === undefined ? [] : [{
    data: { values: [{ y: prevalence }] },
    mark: { type: 'rule', color: '#8c959f', strokeDash: [4, 4], strokeWidth: 1 },
    encoding: { y: { field: 'y', type: 'quantitative' } },
  }];
  return unitSquareChart(data, names, 'recall (sensitivity)', 'precision (PPV)', baseline, 'step-before', options);
}

export interface ReliabilitySeries {
  readonly name: string;
  readonly bins: readonly ReliabilityBin[];
  /** Expected calibration error, shown in the legend when given. */
  readonly ece?: number;
}

/**
 * Reliability diagram: observed rate against mean predicted probability per bin (the diagonal is perfect
 * calibration), with the number of cases per bin below. Pass the bins of `expectedCalibrationError`;
 * several series compare before/after temperature scaling.
 */
export async function reliabilityChart(series: readonly ReliabilitySeries[], options: ChartSize & { mode?: 'top-label' | 'positive-class' } = {}): Promise<string> {
  const names = series.map((s) => legendName(s.name, 'ECE', s.ece));
  const points = series.flatMap((s, k) => s.bins.filter((b) => b.count > 0)
    .map((b, i) => ({ series: names[k] as string, x: b.meanPredicted, y: b.observed, count: b.count, order: i })));
  const counts = series.flatMap((s, k) => s.bins.map((b) => ({ series: names[k] as string, lower: b.lower, upper: b.upper, count: b.count })));
  if (points.length === 0) throw new ReportError('HF_REPORT_BAD_DATA', 'reliabilityChart: every bin is empty.', names.join(', '), 'pass bins with cases');
  const topLabel = (options.mode ?? 'top-label') === 'top-label';
  const width = options.width ?? 320;
  const unit = { domain: [0, 1], nice: false };
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: names } };
  return renderVegaLite({
    ...(options.title === undefined ? {} : { title: options.title }),
    vconcat: [
      {
        width, height: options.height ?? 300,
        layer: [
          { data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }, mark: { type: 'line', color: '#8c959f', strokeDash: [4, 4], strokeWidth: 1 },
            encoding: { x: { field: 'x', type: 'quantitative', scale: unit }, y: { field: 'y', type: 'quantitative', scale: unit } } },
          { data: { values: points }, mark: { type: 'line', point: { filled: true, size: 40 } },
            encoding: {
              x: { field: 'x', type: 'quantitative', scale: unit, title: null, axis: { labels: false } },
              y: { field: 'y', type: 'quantitative', scale: unit, title: topLabel ? 'accuracy' : 'observed fracture rate' },
              color, order: { field: 'order', type: 'quantitative' },
            } },
        ],
      },
      {
        width, height: 70,
        data: { values: counts },
        // A rect from 0 to the count over the bin's edges: a vertical histogram whatever the bin widths.
        mark: { type: 'rect', opacity: 0.6, stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: { field: 'lower', type: 'quantitative', scale: unit, title: topLabel ? 'confidence (mean predicted probability of the called class)' : 'predicted fracture probability' },
          x2: { field: 'upper' },
          y: { field: 'count', type: 'quantitative', title: 'cases', axis: { tickCount: 3 } },
          y2: { datum: 0 },
          color,
        },
      },
    ],
    spacing: 4,
  } as TopLevelSpec);
}

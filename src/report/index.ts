// The report room's door: one self-contained HTML file per run or comparison, built from sections;
// helpers for charts (inline SVG via vega-lite), tables, galleries and escaping.
export { ReportError } from './errors.js';
export type { ReportErrorCode } from './errors.js';
export { escapeHtml, formatNumber, formatInterval, formatCount, formatDuration, formatPValue } from './html.js';
export type { MetricFormat } from './html.js';
export { renderReport, writeReport, withSection, addSectionToReportFile, figure, figureRow, paragraph, note, subheading, statCards } from './document.js';
export type { ReportDocument, ReportSection, StatCard } from './document.js';
export { renderVegaLite, lineChart, rocChart, prChart, reliabilityChart, PALETTE } from './charts.js';
export type { ChartSize, LineSeries, ChartMarker, LineChartOptions, RocSeries, PrSeries, ReliabilitySeries } from './charts.js';
export { metricsTable, comparisonTable, confusionMatrixHtml, breakdownTable, keyValueTable, METRIC_INFO } from './tables.js';
export type { MetricsTableOptions, ComparisonRow } from './tables.js';
export { gallery, imageDataUri } from './gallery.js';
export type { GalleryItem } from './gallery.js';
export { assertNotIdentifying } from './privacy.js';

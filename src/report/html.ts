// Escaping and number formatting shared by every report helper: all text that reaches the page goes
// through escapeHtml, so a caption or a config value can never inject markup or script.
import type { Interval } from '../train/metrics/index.js';

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (ch) => ESCAPES[ch] as string);
}

/** How a metric in [0, 1] is shown: rates as percentages (as the study), AUCs and errors as decimals. */
export type MetricFormat = 'percent' | 'decimal';

const DASH = '—';

export function formatNumber(value: number, format: MetricFormat = 'decimal', digits?: number): string {
  if (!Number.isFinite(value)) return DASH;
  if (format === 'percent') return `${(value * 100).toFixed(digits ?? 1)} %`;
  return value.toFixed(digits ?? 3);
}

/** "96.5 % (95.2–97.6)" — the interval without repeating the unit. */
export function formatInterval(iv: Interval, format: MetricFormat = 'decimal'): { value: string; interval: string } {
  const value = formatNumber(iv.estimate, format);
  if (!Number.isFinite(iv.lower) || !Number.isFinite(iv.upper)) return { value, interval: '' };
  const bare = (v: number): string => (format === 'percent' ? (v * 100).toFixed(1) : v.toFixed(3));
  return { value, interval: `${bare(iv.lower)}–${bare(iv.upper)}` };
}

export function isInterval(v: unknown): v is Interval {
  return typeof v === 'object' && v !== null && 'estimate' in v && 'lower' in v && 'upper' in v;
}

/** A metric value, with its interval in a muted line below when it has one. */
export function metricCell(value: number | Interval, format: MetricFormat): string {
  if (!isInterval(value)) return `<span class="num">${escapeHtml(formatNumber(value, format))}</span>`;
  const f = formatInterval(value, format);
  const ci = f.interval === '' ? '' : `<span class="ci">${escapeHtml(f.interval)}</span>`;
  return `<span class="num">${escapeHtml(f.value)}</span>${ci}`;
}

/** 14 149 250 → "14.1 M". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return DASH;
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(1)} G`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(0)} k`;
  return String(Math.round(n));
}

/** 3725 s → "1 h 02 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return DASH;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.round(seconds - 60 * m)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** p-values as journals print them: "< 0.001", else three decimals. */
export function formatPValue(p: number): string {
  if (!Number.isFinite(p)) return DASH;
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

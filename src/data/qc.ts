// Quality control, the study's future work: blur (variance of the Laplacian), near-uniform and low-contrast
// images, tiny images and unknown views, with a summary table and a self-contained HTML contact sheet.
import sharp from 'sharp';
import type { GreyImage } from './cache.js';
import type { ManifestRow, QcFlag, QcMetrics, View } from './manifest.js';

export interface QcThresholds {
  /** Laplacian variance (0..255 scale) below which an image counts as blurred (15: below ~1 % of FracAtlas radiographs at 512 px). */
  readonly blurVariance: number;
  /** 1–99 percentile spread in [0,1] below which contrast is low. */
  readonly minContrast: number;
  /** Standard deviation in [0,1] below which the image is near-uniform. */
  readonly minStd: number;
  /** Shorter original side in pixels below which the image is tiny. */
  readonly minSide: number;
}

export const DEFAULT_QC: QcThresholds = { blurVariance: 15, minContrast: 0.1, minStd: 0.02, minSide: 256 };

/** Metrics on the cached (working-resolution) image so they compare across sources. */
export function qcMetrics(image: GreyImage): QcMetrics {
  const { width, height, data } = image;
  const n = data.length;
  let sum = 0;
  let sumSq = 0;
  const histogram = new Uint32Array(1024);
  for (let i = 0; i < n; i++) {
    const v = (data[i] as number) / 65535;
    sum += v;
    sumSq += v * v;
    histogram[Math.min(1023, Math.floor(v * 1024))]! += 1;
  }
  const mean = n > 0 ? sum / n : 0;
  const std = n > 0 ? Math.sqrt(Math.max(0, sumSq / n - mean * mean)) : 0;
  const percentile = (p: number): number => {
    const target = p * n;
    let acc = 0;
    for (let b = 0; b < 1024; b++) {
      acc += histogram[b] as number;
      if (acc >= target) return b / 1023;
    }
    return 1;
  };
  const contrast = percentile(0.99) - percentile(0.01);
  let lapSum = 0;
  let lapSq = 0;
  let count = 0;
  const scale = 255 / 65535;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const lap = ((data[i - 1] as number) + (data[i + 1] as number) + (data[i - width] as number) + (data[i + width] as number) - 4 * (data[i] as number)) * scale;
      lapSum += lap;
      lapSq += lap * lap;
      count++;
    }
  }
  const lapMean = count > 0 ? lapSum / count : 0;
  const laplacianVariance = count > 0 ? lapSq / count - lapMean * lapMean : 0;
  return { laplacianVariance, contrast, std };
}

export function qcFlags(metrics: QcMetrics, originalWidth: number, originalHeight: number, view: View, thresholds: QcThresholds = DEFAULT_QC): QcFlag[] {
  const flags: QcFlag[] = [];
  if (metrics.std < thresholds.minStd) flags.push('near-uniform');
  else if (metrics.contrast < thresholds.minContrast) flags.push('low-contrast');
  // A uniform image has no edges either; call it blurred only when there is content to be sharp.
  if (metrics.std >= thresholds.minStd && metrics.laplacianVariance < thresholds.blurVariance) flags.push('blurred');
  if (Math.min(originalWidth, originalHeight) < thresholds.minSide) flags.push('tiny');
  if (view === 'unknown') flags.push('unknown-view');
  return flags;
}

export interface QcSummary {
  readonly total: number;
  readonly flagged: number;
  readonly byFlag: Readonly<Record<QcFlag, number>>;
}

export function summariseQc(rows: readonly ManifestRow[]): QcSummary {
  const byFlag: Record<QcFlag, number> = { blurred: 0, 'low-contrast': 0, 'near-uniform': 0, tiny: 0, 'unknown-view': 0 };
  let flagged = 0;
  for (const row of rows) {
    if (row.qc.length > 0) flagged++;
    for (const flag of row.qc) byFlag[flag]++;
  }
  return { total: rows.length, flagged, byFlag };
}

/** The summary as a Markdown table (flag, images, share). */
export function qcTable(summary: QcSummary): string {
  const lines = ['| QC flag | images | share |', '| --- | ---: | ---: |'];
  for (const [flag, count] of Object.entries(summary.byFlag)) {
    lines.push(`| ${flag} | ${count} | ${summary.total > 0 ? ((100 * count) / summary.total).toFixed(1) : '0.0'} % |`);
  }
  lines.push(`| any flag | ${summary.flagged} | ${summary.total > 0 ? ((100 * summary.flagged) / summary.total).toFixed(1) : '0.0'} % |`);
  return lines.join('\n');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/**
 * A self-contained HTML contact sheet of flagged images: thumbnails inlined as data URIs, captioned by
 * flags, metrics and a short content hash only — no paths, keys or other identifiers.
 */
export async function contactSheetHtml(rows: readonly ManifestRow[], loadImage: (row: ManifestRow) => Promise<GreyImage>, options: { maxImages?: number; thumbnail?: number } = {}): Promise<string> {
  const flagged = rows.filter((r) => r.qc.length > 0).slice(0, options.maxImages ?? 500);
  const size = options.thumbnail ?? 160;
  const summary = summariseQc(rows);
  const cards: string[] = [];
  for (const row of flagged) {
    const image = await loadImage(row);
    const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 1 } })
      .resize({ width: size, height: size, fit: 'inside' })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const m = row.qcMetrics;
    cards.push(
      `<figure><img alt="flagged image" src="data:image/png;base64,${png.toString('base64')}"><figcaption><b>${escapeHtml(row.qc.join(', '))}</b><br>` +
        `blur ${m.laplacianVariance.toFixed(2)} · contrast ${m.contrast.toFixed(3)} · std ${m.std.toFixed(3)}<br>${row.width}×${row.height} · view ${escapeHtml(row.view)} · #${row.contentHash.slice(0, 8)}</figcaption></figure>`,
    );
  }
  const rowsHtml = Object.entries(summary.byFlag)
    .map(([flag, count]) => `<tr><td>${flag}</td><td>${count}</td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>hipfrac QC contact sheet</title><style>
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#fafafa;color:#222}table{border-collapse:collapse;margin-bottom:1rem}td,th{border:1px solid #ccc;padding:.25rem .6rem}
.grid{display:flex;flex-wrap:wrap;gap:.75rem}figure{margin:0;background:#fff;border:1px solid #ddd;padding:.4rem;width:${size + 20}px;font-size:.75rem}img{display:block;margin:auto;background:#000}
</style></head><body><h1>QC contact sheet</h1><p>${summary.flagged} of ${summary.total} images flagged${flagged.length < summary.flagged ? ` (first ${flagged.length} shown)` : ''}.</p>
<table><tr><th>flag</th><th>images</th></tr>${rowsHtml}</table><div class="grid">${cards.join('\n')}</div></body></html>\n`;
}

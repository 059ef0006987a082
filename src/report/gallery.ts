// Image galleries (top losses, most confident correct cases, later heatmaps) with images embedded as
// data: URIs, so the report needs no files beside it. Only PNG and JPEG are accepted.
import { ReportError } from './errors.js';
import { escapeHtml } from './html.js';

export interface GalleryItem {
  /** PNG or JPEG bytes, or a `data:image/png;base64,…` / `data:image/jpeg;base64,…` URI. */
  readonly image: Uint8Array | string;
  /** e.g. "fracture/no fracture/2.41/0.09". */
  readonly caption: string;
  /** Pseudonymous case key shown under the caption (never a patient identifier). */
  readonly key?: string;
  /** Alternative text; defaults to the caption. */
  readonly alt?: string;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function mimeOf(bytes: Uint8Array): string | undefined {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  return undefined;
}

/** PNG or JPEG bytes as a data: URI; throws for anything else. */
export function imageDataUri(bytes: Uint8Array, where = 'imageDataUri'): string {
  const mime = mimeOf(bytes);
  if (mime === undefined) {
    throw new ReportError('HF_REPORT_BAD_IMAGE', `${where}: the bytes are neither PNG nor JPEG.`, where,
      'encode the image as PNG first (e.g. with sharp)');
  }
  return `data:${mime};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

const DATA_URI = /^data:image\/(png|jpeg);base64,[A-Za-z0-9+/]+={0,2}$/;

function sourceOf(image: Uint8Array | string, where: string): string {
  if (typeof image !== 'string') return imageDataUri(image, where);
  if (!DATA_URI.test(image)) {
    throw new ReportError('HF_REPORT_BAD_IMAGE', `${where}: "${image.slice(0, 40)}…" is not a base64 PNG/JPEG data: URI.`, where,
      'pass the image bytes or a data:image/png;base64 URI; links to files or servers would break the self-contained report');
  }
  return image;
}

/**
 * A grid of captioned images.
 * @example gallery(top.map((c) => ({ image: pngOf(c.index), caption: c.caption, key: keys[c.index] })))
 */
export function gallery(items: readonly GalleryItem[], options: { columns?: number; caption?: string } = {}): string {
  const columns = options.columns ?? 4;
  const cells = items.map((item, i) => {
    const src = sourceOf(item.image, `gallery item ${i}`);
    const key = item.key === undefined ? '' : `<span class="case-key">${escapeHtml(item.key)}</span>`;
    return `<figure class="tile"><img src="${src}" alt="${escapeHtml(item.alt ?? item.caption)}" loading="lazy"><figcaption>`
      + `<span class="tile-caption">${escapeHtml(item.caption)}</span>${key}</figcaption></figure>`;
  }).join('');
  const caption = options.caption === undefined ? '' : `<p class="figure-caption">${escapeHtml(options.caption)}</p>`;
  const empty = items.length === 0 ? '<p class="muted">No cases to show.</p>' : '';
  return `<div class="gallery" style="--columns: ${Math.max(1, Math.floor(columns))}">${cells}</div>${empty}${caption}`;
}

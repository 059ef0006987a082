// Heatmap overlays: the map resized to the image's own resolution, coloured, and blended onto the grey
// radiograph with a chosen opacity; written as PNG.
import { colormap, COLORMAPS, type ColormapName } from './colormap.js';
import { resizeHeatmap, type Heatmap } from './heatmap.js';
import { writeRgbPng, type GreyImage, type RgbImage } from './image.js';
import { ExplainError } from './errors.js';

export interface OverlayOptions {
  /** Colour map; 'viridis' or 'cividis' for colour-blind-safe figures. Default 'jet'. */
  readonly colormap?: ColormapName;
  /** Weight of the heatmap colour in [0, 1]. Default 0.4. */
  readonly opacity?: number;
  /** Heat values below this are left uncoloured (0 colours everything). Default 0. */
  readonly threshold?: number;
}

/**
 * Blends a heatmap (any resolution, values in [0, 1]) onto a grey image at the image's resolution:
 * out = (1 − opacity·m)·grey + opacity·m·colour, with m = 1 where the heat clears `threshold`.
 */
export function renderOverlay(image: GreyImage, heatmap: Heatmap, options: OverlayOptions = {}): RgbImage {
  const name = options.colormap ?? 'jet';
  const opacity = options.opacity ?? 0.4;
  const threshold = options.threshold ?? 0;
  if (!COLORMAPS.includes(name)) {
    throw new ExplainError('HF_EXPLAIN_BAD_OPTION', `unknown colour map '${String(name)}'.`, { input: 'colormap', fix: `use one of ${COLORMAPS.join(', ')}.` });
  }
  if (!(opacity >= 0 && opacity <= 1)) {
    throw new ExplainError('HF_EXPLAIN_BAD_OPTION', `overlay opacity must be in [0, 1], got ${opacity}.`, { input: 'opacity' });
  }
  const heat = resizeHeatmap(heatmap, image.width, image.height);
  const out = new Uint8Array(image.width * image.height * 3);
  for (let i = 0; i < image.width * image.height; i++) {
    const grey = 255 * Math.min(1, Math.max(0, (image.data[i] as number) / image.maxValue));
    const v = heat.data[i] as number;
    const a = v >= threshold ? opacity : 0;
    const [r, g, b] = colormap(name, v);
    out[3 * i] = Math.round((1 - a) * grey + a * r);
    out[3 * i + 1] = Math.round((1 - a) * grey + a * g);
    out[3 * i + 2] = Math.round((1 - a) * grey + a * b);
  }
  return { width: image.width, height: image.height, data: out };
}

/** renderOverlay, written to `file` as PNG. */
export async function writeOverlayPng(file: string, image: GreyImage, heatmap: Heatmap, options: OverlayOptions = {}): Promise<void> {
  await writeRgbPng(file, renderOverlay(image, heatmap, options));
}

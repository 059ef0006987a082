// The heatmap as a layer for the review viewer: the jet colours with the heat as alpha (transparent where the
// model did not look), at most 512 px on the long side with the whole radiograph's aspect. The viewer draws it over
// the whole image as windowed, inverted and zoomed by the reader, so a model that saw a region (a hip crop) has its
// heat placed on that region and the rest of the layer left transparent. The burned-in overlay next to it
// (radiograph + colours) is what the Secondary Capture and the API's heatmap link carry.
import { colormap, resizeHeatmap, type Heatmap } from '../../explain/index.js';

const LONG_SIDE = 512;

/** Where the model's input lies in the radiograph, in its pixels (x1, y1 exclusive). */
export interface LayerRegion {
  readonly origin: readonly [number, number];
  readonly width: number;
  readonly height: number;
}

/**
 * RGBA pixels of the layer for a radiograph of `width` × `height` whose heatmap `map` covers `region` (default: the
 * whole radiograph).
 */
export function heatmapLayer(map: Heatmap, width: number, height: number, region: LayerRegion = { origin: [0, 0], width, height }): { readonly width: number; readonly height: number; readonly data: Uint8Array } {
  const scale = Math.min(1, LONG_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  // The region in the layer's pixels, kept inside it.
  const x0 = Math.min(w - 1, Math.max(0, Math.round(region.origin[0] * scale)));
  const y0 = Math.min(h - 1, Math.max(0, Math.round(region.origin[1] * scale)));
  const rw = Math.max(1, Math.min(w - x0, Math.round(region.width * scale)));
  const rh = Math.max(1, Math.min(h - y0, Math.round(region.height * scale)));
  const heat = resizeHeatmap(map, rw, rh);
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < rh; y++) {
    for (let x = 0; x < rw; x++) {
      const v = Math.min(1, Math.max(0, heat.data[y * rw + x] as number));
      const [r, g, b] = colormap('jet', v);
      data.set([r, g, b, Math.round(255 * v)], 4 * ((y0 + y) * w + x0 + x));
    }
  }
  return { width: w, height: h, data };
}

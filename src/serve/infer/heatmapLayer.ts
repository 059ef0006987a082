// The heatmap as a layer for the review viewer: the jet colours with the heat as alpha (transparent where the
// model did not look), at most 512 px on the long side with the radiograph's aspect. The viewer draws it over the
// image as windowed, inverted and zoomed by the reader; the burned-in overlay next to it (radiograph + colours)
// is what the Secondary Capture and the API's heatmap link carry.
import { colormap, resizeHeatmap, type Heatmap } from '../../explain/index.js';

const LONG_SIDE = 512;

/** RGBA pixels of the layer for an image of `width` × `height`. */
export function heatmapLayer(map: Heatmap, width: number, height: number): { readonly width: number; readonly height: number; readonly data: Uint8Array } {
  const scale = Math.min(1, LONG_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const heat = resizeHeatmap(map, w, h);
  const data = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const v = Math.min(1, Math.max(0, heat.data[i] as number));
    const [r, g, b] = colormap('jet', v);
    data.set([r, g, b, Math.round(255 * v)], 4 * i);
  }
  return { width: w, height: h, data };
}

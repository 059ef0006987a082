// Colour maps for heatmap overlays: jet (the study's and pytorch-grad-cam's look) and two perceptually
// uniform, colour-blind-safe maps (viridis, cividis; matplotlib's, CC0), sampled at 17 points and interpolated.

export type ColormapName = 'jet' | 'viridis' | 'cividis';
export const COLORMAPS: readonly ColormapName[] = ['jet', 'viridis', 'cividis'];

type Rgb = readonly [number, number, number];

// 17 evenly spaced samples of matplotlib 3.6's maps (0, 1/16, …, 1), 8-bit sRGB.
const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84], [72, 24, 106], [71, 45, 123], [66, 64, 134], [59, 82, 139], [51, 99, 141], [44, 114, 142], [38, 130, 142],
  [33, 145, 140], [31, 160, 136], [40, 174, 128], [63, 188, 115], [94, 201, 98], [132, 212, 75], [173, 220, 48], [216, 226, 25], [253, 231, 37],
];
const CIVIDIS: readonly Rgb[] = [
  [0, 34, 78], [0, 46, 106], [26, 56, 111], [50, 67, 109], [67, 78, 108], [83, 90, 109], [97, 101, 111], [111, 112, 115],
  [125, 124, 120], [140, 136, 120], [155, 148, 118], [171, 160, 114], [188, 174, 108], [205, 187, 99], [222, 201, 88], [240, 216, 70], [254, 232, 56],
];

function fromSamples(samples: readonly Rgb[], v: number): Rgb {
  const pos = v * (samples.length - 1);
  const i = Math.min(Math.floor(pos), samples.length - 2);
  const t = pos - i;
  const a = samples[i] as Rgb;
  const b = samples[i + 1] as Rgb;
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

// The classic piecewise-linear jet: blue → cyan → yellow → red.
function jet(v: number): Rgb {
  const channel = (centre: number): number => 255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - centre)));
  return [channel(3), channel(2), channel(1)];
}

/** The colour (0–255 per channel) of value `v` in [0, 1] (clamped) under the named map. */
export function colormap(name: ColormapName, v: number): Rgb {
  const x = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
  switch (name) {
    case 'jet': return jet(x);
    case 'viridis': return fromSamples(VIRIDIS, x);
    case 'cividis': return fromSamples(CIVIDIS, x);
  }
}

// What an image looks like before any network sees it: a short descriptor of the grey input (intensity
// histogram, spread, dark and bright shares, border against centre, edge energy) whose Mahalanobis distance to
// the training images catches blank, inverted (MONOCHROME1 read as 2), CT/MR-like and photograph-like inputs.

/** Number of values pixelDescriptor returns. */
export const PIXEL_DESCRIPTOR_SIZE = 18;

/**
 * Descriptor of one grey plane (values in [0, 1], size × size): 8-bin histogram, mean, standard deviation,
 * share below 0.05 and above 0.95, border mean minus centre mean, mean absolute horizontal and vertical gradient,
 * the mean of the top band minus the bottom band (radiographs of one body part have a typical layout), the
 * skewness, and the edge strength of the brightest tenth minus that of the darkest tenth. The last two change
 * sign when the grey scale is inverted: in a radiograph bone is bright, sparse and edged, air dark and flat.
 */
export function pixelDescriptor(plane: ArrayLike<number>, size: number): number[] {
  const n = size * size;
  const hist = new Array<number>(8).fill(0);
  let sum = 0, sumSq = 0, dark = 0, bright = 0;
  for (let i = 0; i < n; i++) {
    const v = Math.min(1, Math.max(0, plane[i] as number));
    const bin = Math.min(7, Math.floor(v * 8));
    hist[bin] = (hist[bin] as number) + 1 / n;
    sum += v;
    sumSq += v * v;
    if (v < 0.05) dark++;
    if (v > 0.95) bright++;
  }
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  const band = Math.max(1, Math.round(size / 8));
  let border = 0, borderN = 0, centre = 0, centreN = 0, gx = 0, gy = 0, top = 0, bottom = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = plane[y * size + x] as number;
      const isBorder = x < band || y < band || x >= size - band || y >= size - band;
      if (isBorder) {
        border += v;
        borderN++;
      } else if (x >= size / 4 && x < (3 * size) / 4 && y >= size / 4 && y < (3 * size) / 4) {
        centre += v;
        centreN++;
      }
      if (x > 0) gx += Math.abs(v - (plane[y * size + x - 1] as number));
      if (y > 0) gy += Math.abs(v - (plane[(y - 1) * size + x] as number));
      if (y < band) top += v;
      if (y >= size - band) bottom += v;
    }
  }
  const edges = size * (size - 1);
  let third = 0;
  for (let i = 0; i < n; i++) third += ((plane[i] as number) - mean) ** 3;
  const skewness = std > 1e-6 ? third / n / std ** 3 : 0;
  // Edge strength (|∇| by forward differences) of the brightest and darkest tenth of the pixels.
  const sorted = Float32Array.from({ length: n }, (_, i) => plane[i] as number).sort();
  const low = sorted[Math.floor(0.1 * (n - 1))] as number;
  const high = sorted[Math.floor(0.9 * (n - 1))] as number;
  let edgeHigh = 0, nHigh = 0, edgeLow = 0, nLow = 0;
  for (let y = 0; y < size - 1; y++) {
    for (let x = 0; x < size - 1; x++) {
      const v = plane[y * size + x] as number;
      const g = Math.abs((plane[y * size + x + 1] as number) - v) + Math.abs((plane[(y + 1) * size + x] as number) - v);
      if (v >= high) {
        edgeHigh += g;
        nHigh++;
      }
      if (v <= low) {
        edgeLow += g;
        nLow++;
      }
    }
  }
  const edgeContrast = edgeHigh / Math.max(1, nHigh) - edgeLow / Math.max(1, nLow);
  return [...hist, mean, std, dark / n, bright / n, border / Math.max(1, borderN) - centre / Math.max(1, centreN), gx / edges, gy / edges, (top - bottom) / (band * size), skewness, edgeContrast];
}

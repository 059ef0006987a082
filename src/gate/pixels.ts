// What an image looks like before any network sees it: a short descriptor of the grey input (intensity
// histogram, spread, dark and bright shares, border against centre, edge energy) whose Mahalanobis distance to
// the training images catches blank, inverted (MONOCHROME1 read as 2), CT/MR-like and photograph-like inputs.

/** Number of values pixelDescriptor returns. */
export const PIXEL_DESCRIPTOR_SIZE = 18;

/** Puts the k-th smallest of values[left..right] at index k, smaller or equal ones before it (Hoare's selection). */
function selectInPlace(values: Float32Array, k: number, left: number, right: number): void {
  while (right > left) {
    const mid = (left + right) >>> 1;
    // Median of three at mid: also the partition's sentinels at both ends.
    if ((values[mid] as number) < (values[left] as number)) swap(values, mid, left);
    if ((values[right] as number) < (values[left] as number)) swap(values, right, left);
    if ((values[right] as number) < (values[mid] as number)) swap(values, right, mid);
    const pivot = values[mid] as number;
    let i = left, j = right;
    while (i <= j) {
      while ((values[i] as number) < pivot) i++;
      while ((values[j] as number) > pivot) j--;
      if (i <= j) swap(values, i++, j--);
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return;
  }
}

function swap(values: Float32Array, a: number, b: number): void {
  const t = values[a] as number;
  values[a] = values[b] as number;
  values[b] = t;
}

/**
 * The order statistics of `values` at ascending `ranks` (0-based), as a sort would give them, in linear time on
 * average; `values` is reordered.
 */
export function orderStatistics(values: Float32Array, ranks: readonly number[]): number[] {
  let left = 0;
  return ranks.map((k) => {
    selectInPlace(values, k, left, values.length - 1);
    left = k;
    return values[k] as number;
  });
}

/** Mean of `quantity` over the pixels whose value is at least `high`, minus its mean over those at most `low`. */
function extremesDifference(values: Float32Array, quantity: Float32Array, low: number, high: number): number {
  let bright = 0, nBright = 0, dark = 0, nDark = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (v >= high) {
      bright += quantity[i] as number;
      nBright++;
    }
    if (v <= low) {
      dark += quantity[i] as number;
      nDark++;
    }
  }
  return bright / Math.max(1, nBright) - dark / Math.max(1, nDark);
}

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
  const [low, high] = orderStatistics(Float32Array.from(plane), [Math.floor(0.1 * (n - 1)), Math.floor(0.9 * (n - 1))]) as [number, number];
  const inner = Math.max(0, size - 1);
  const values = new Float32Array(inner * inner);
  const edge = new Float32Array(inner * inner);
  for (let y = 0, k = 0; y < inner; y++) {
    for (let x = 0; x < inner; x++, k++) {
      const v = plane[y * size + x] as number;
      values[k] = v;
      edge[k] = Math.abs((plane[y * size + x + 1] as number) - v) + Math.abs((plane[(y + 1) * size + x] as number) - v);
    }
  }
  const edgeContrast = extremesDifference(values, edge, low, high);
  return [...hist, mean, std, dark / n, bright / n, border / Math.max(1, borderN) - centre / Math.max(1, centreN), gx / edges, gy / edges, (top - bottom) / (band * size), skewness, edgeContrast];
}

/** Number of values polarityCues returns. */
export const POLARITY_CUES_SIZE = 4;

/**
 * Which way up the grey scale is, beyond the global histogram (which a bright collimator border or a flat, grey
 * image turns round): the fine texture (|v − its 3 × 3 mean|) of the brightest 30 % minus that of the darkest 30 %
 * (bone is textured, air flat), the texture-weighted mean minus the mean, and the skewness and median minus mean
 * of the central half (away from the borders). Each changes sign when the grey scale is inverted.
 */
export function polarityCues(plane: ArrayLike<number>, size: number): number[] {
  const side = Math.max(0, size - 2);
  const m = side * side;
  if (m === 0) return new Array<number>(POLARITY_CUES_SIZE).fill(0);
  // 3 × 3 sums from running sums of three columns, row by row.
  const interior = new Float32Array(m);
  const texture = new Float32Array(m);
  for (let y = 1, k = 0; y < size - 1; y++) {
    const column = (x: number): number => (plane[(y - 1) * size + x] as number) + (plane[y * size + x] as number) + (plane[(y + 1) * size + x] as number);
    let left = column(0), middle = column(1);
    for (let x = 1; x < size - 1; x++, k++) {
      const right = column(x + 1);
      const v = plane[y * size + x] as number;
      interior[k] = v;
      texture[k] = Math.abs(v - (left + middle + right) / 9);
      left = middle;
      middle = right;
    }
  }
  const [low, high] = orderStatistics(interior.slice(), [Math.floor(0.3 * (m - 1)), Math.floor(0.7 * (m - 1))]) as [number, number];
  let weight = 0, weighted = 0, mean = 0;
  for (let i = 0; i < m; i++) {
    const v = interior[i] as number;
    const t = texture[i] as number;
    mean += v / m;
    weight += t;
    weighted += t * v;
  }
  const from = Math.floor(size / 4), to = Math.floor((3 * size) / 4);
  const centre = new Float32Array((to - from) * (to - from));
  for (let y = from, k = 0; y < to; y++) for (let x = from; x < to; x++, k++) centre[k] = plane[y * size + x] as number;
  const c = centre.length;
  let cMean = 0;
  for (let i = 0; i < c; i++) cMean += (centre[i] as number) / c;
  let m2 = 0, m3 = 0;
  for (let i = 0; i < c; i++) {
    const d = (centre[i] as number) - cMean;
    m2 += (d * d) / c;
    m3 += (d * d * d) / c;
  }
  const cStd = Math.sqrt(m2);
  const cSkew = cStd > 1e-6 ? m3 / cStd ** 3 : 0;
  const cMedian = c === 0 ? 0 : (orderStatistics(centre, [Math.floor(c / 2)])[0] as number);
  return [extremesDifference(interior, texture, low, high), weight > 0 ? weighted / weight - mean : 0, cSkew, cMedian - cMean];
}

/** The polarity probe's input: pixelDescriptor (pass it when already computed) followed by polarityCues. */
export function polarityDescriptor(plane: ArrayLike<number>, size: number, pixels: readonly number[] = pixelDescriptor(plane, size)): number[] {
  return [...pixels, ...polarityCues(plane, size)];
}

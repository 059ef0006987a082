// The grey-scale pipeline in the standard's order (PS3.3 C.11, PS3.4 N.2): stored values → Modality LUT →
// pixel padding → VOI (window LINEAR / LINEAR_EXACT / SIGMOID, or VOI LUT) → MONOCHROME1 inverted.
import { DicomError, type DicomIssue } from './errors.js';
import { AttributeReader, Tag } from './header.js';
import type { PixelAttributes, StoredFrame } from './frames.js';

export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

export interface LookupTable {
  /** Number of entries, first stored value mapped, bits per entry (the LUT Descriptor). */
  readonly firstMapped: number;
  readonly bits: number;
  readonly data: Uint16Array;
}

/** How the user wants the VOI chosen. */
export type VoiChoice =
  | 'auto'
  | 'window'
  | 'voi-lut'
  | 'percentile'
  | 'minmax'
  | 'none'
  | { readonly center: number; readonly width: number; readonly function?: VoiFunction };

export interface AppliedVoi {
  readonly source: 'window' | 'voi-lut' | 'percentile' | 'minmax' | 'none' | 'explicit';
  readonly center?: number;
  readonly width?: number;
  readonly function?: VoiFunction;
  /** Set when the header's window was abandoned for the percentile window, with why. */
  readonly fallbackFrom?: { readonly center: number; readonly width: number; readonly reason: string };
}

export interface PipelineOptions {
  readonly voi?: VoiChoice;
  /** Which of several windows (or VOI LUTs) in the header, 0-based. */
  readonly voiIndex?: number;
  /** Lower and upper percentiles of the fallback window, in percent (default 0.5 and 99.5). */
  readonly percentiles?: readonly [number, number];
  /** Fraction of pixels at black or white above which a header window counts as blank/saturated (default 0.95). */
  readonly saturationLimit?: number;
}

export interface PipelineResult {
  /** Display values 0..65535 in MONOCHROME2 polarity (0 black); padding pixels are 0. */
  readonly display: Uint16Array;
  /** Per-pixel modality values, only when asked for. */
  readonly modality: Float64Array | undefined;
  readonly voi: AppliedVoi;
}

const OUT_MAX = 65535;

/** Reads a LUT from a Modality or VOI LUT sequence item: descriptor (US/SS) and data (US/OW, byte order of the file). */
export function readLut(item: AttributeReader, signedInput: boolean): LookupTable {
  const descriptor = item.bytes(Tag.LutDescriptor);
  const data = item.bytes(Tag.LutData);
  if (descriptor === undefined || descriptor.length < 6 || data === undefined) {
    throw new DicomError('HF_DICOM_BAD_ATTRIBUTE', 'A LUT sequence item lacks LUT Descriptor (0028,3002) or LUT Data (0028,3006).', {
      file: item.file,
      tag: '(0028,3002)',
      fix: 'Remove the broken LUT sequence with dcmodify -e, or re-export the image.',
    });
  }
  const big = item.bigEndian;
  const u16 = (b: Uint8Array, at: number): number => (big ? ((b[at] as number) << 8) | (b[at + 1] as number) : (b[at] as number) | ((b[at + 1] as number) << 8));
  let entries = u16(descriptor, 0);
  if (entries === 0) entries = 65536;
  let firstMapped = u16(descriptor, 2);
  if (signedInput && firstMapped >= 32768) firstMapped -= 65536;
  const bits = u16(descriptor, 4);
  const lut = new Uint16Array(entries);
  // 8-bit entries may be packed two to a 16-bit word; otherwise one word per entry.
  if (bits <= 8 && data.length >= entries && data.length < entries * 2) {
    for (let i = 0; i < entries; i++) lut[i] = data[i] as number;
  } else {
    const available = Math.min(entries, data.length >> 1);
    for (let i = 0; i < available; i++) lut[i] = u16(data, 2 * i);
    for (let i = available; i < entries; i++) lut[i] = lut[available - 1] ?? 0;
  }
  return { firstMapped, bits: bits === 0 ? 16 : bits, data: lut };
}

function lookup(lut: LookupTable, x: number): number {
  const index = Math.round(x) - lut.firstMapped;
  const last = lut.data.length - 1;
  return lut.data[index < 0 ? 0 : index > last ? last : index] as number;
}

/**
 * The table domain: every bit pattern p of Bits Stored bits, with its stored value (two's complement when
 * signed). Images have at most 2^16 distinct stored values, so each step below costs ≤ 65,536 evaluations
 * instead of one per pixel, as dcmtk does.
 */
interface Domain {
  readonly size: number;
  readonly mask: number;
  readonly value: (pattern: number) => number;
}

function domainOf(frame: StoredFrame): Domain {
  const size = 2 ** frame.bitsStored;
  const half = size / 2;
  return { size, mask: size - 1, value: frame.signed ? (p) => (p >= half ? p - size : p) : (p) => p };
}

/** Pixel count per bit pattern. */
function histogramOf(frame: StoredFrame, domain: Domain): Float64Array {
  const hist = new Uint32Array(domain.size);
  const { samples, shift } = frame;
  const mask = domain.mask;
  for (let i = 0; i < samples.length; i++) hist[((samples[i] as number) >>> shift) & mask]! += 1;
  return Float64Array.from(hist);
}

/** Modality LUT over the domain: LUT sequence when present, else rescale slope/intercept (identity when absent). */
export function modalityTable(frame: StoredFrame, reader: AttributeReader | undefined): Float64Array {
  const domain = domainOf(frame);
  const out = new Float64Array(domain.size);
  const lutItem = reader === undefined || frame.fromColour ? undefined : reader.items(Tag.ModalityLutSequence)[0];
  if (lutItem !== undefined) {
    const lut = readLut(lutItem, frame.signed);
    for (let p = 0; p < domain.size; p++) out[p] = lookup(lut, domain.value(p));
    return out;
  }
  const slope = reader === undefined || frame.fromColour ? 1 : (reader.decimal(Tag.RescaleSlope) ?? 1);
  const intercept = reader === undefined || frame.fromColour ? 0 : (reader.decimal(Tag.RescaleIntercept) ?? 0);
  for (let p = 0; p < domain.size; p++) out[p] = domain.value(p) * slope + intercept;
  return out;
}

/** Bit patterns marked as background by Pixel Padding Value (and Range Limit), compared with stored values. */
function paddingPatterns(frame: StoredFrame, domain: Domain, reader: AttributeReader | undefined): Uint8Array | undefined {
  if (reader === undefined || frame.fromColour) return undefined;
  const raw = reader.bytes(Tag.PixelPaddingValue);
  if (raw === undefined || raw.length < 2) return undefined;
  const toValue = (b: Uint8Array): number => {
    let v = reader.bigEndian ? ((b[0] as number) << 8) | (b[1] as number) : (b[0] as number) | ((b[1] as number) << 8);
    if (frame.signed && v >= 32768) v -= 65536;
    return v;
  };
  const a = toValue(raw);
  const limitBytes = reader.bytes(Tag.PixelPaddingRangeLimit);
  const b = limitBytes !== undefined && limitBytes.length >= 2 ? toValue(limitBytes) : a;
  const low = Math.min(a, b);
  const high = Math.max(a, b);
  const mask = new Uint8Array(domain.size);
  for (let p = 0; p < domain.size; p++) {
    const v = domain.value(p);
    if (v >= low && v <= high) mask[p] = 1;
  }
  return mask;
}

/**
 * One window of PS3.3 C.11.2.1.2 as a real number in [0, 65535], before truncation. `inverted` gives the
 * MONOCHROME1 output, computed as (0.5 − t)·65535 rather than 65535 − (t + 0.5)·65535 so the rounding of
 * the last bit is the same as dcmtk's.
 */
export function windowReal(x: number, center: number, width: number, fn: VoiFunction, inverted = false): number {
  let y: number;
  if (fn === 'SIGMOID') {
    y = OUT_MAX / (1 + Math.exp(((inverted ? 4 : -4) * (x - center)) / width));
  } else {
    const exact = fn === 'LINEAR_EXACT';
    const w = exact ? width : width - 1;
    const c = exact ? center : center - 0.5;
    const low = exact ? x <= center - width / 2 : x <= c - w / 2;
    const high = exact ? x > center + width / 2 : x > c + w / 2;
    if (low) y = inverted ? OUT_MAX : 0;
    else if (high) y = inverted ? 0 : OUT_MAX;
    else y = inverted ? (0.5 - (x - c) / w) * OUT_MAX : ((x - c) / w + 0.5) * OUT_MAX;
  }
  return y < 0 ? 0 : y > OUT_MAX ? OUT_MAX : y;
}

/** One window mapped to an integer 0..65535 by truncation, as dcmtk does. */
export function windowValue(x: number, center: number, width: number, fn: VoiFunction): number {
  return Math.floor(windowReal(x, center, width, fn));
}

/** Windows the table; `inverted` gives MONOCHROME1 polarity, inverting before truncation as dcmtk does. */
function windowTable(modality: Float64Array, center: number, width: number, fn: VoiFunction, inverted = false): Uint16Array {
  const out = new Uint16Array(modality.length);
  for (let p = 0; p < modality.length; p++) out[p] = Math.floor(windowReal(modality[p] as number, center, width, fn, inverted));
  return out;
}

/** Patterns present in the image (outside padding), sorted by modality value, with their counts. */
function presentValues(modality: Float64Array, counts: Float64Array): { values: Float64Array; cumulative: Float64Array; total: number } {
  const present: number[] = [];
  for (let p = 0; p < counts.length; p++) if ((counts[p] as number) > 0) present.push(p);
  present.sort((a, b) => (modality[a] as number) - (modality[b] as number));
  const values = new Float64Array(present.length);
  const cumulative = new Float64Array(present.length);
  let total = 0;
  present.forEach((p, i) => {
    total += counts[p] as number;
    values[i] = modality[p] as number;
    cumulative[i] = total;
  });
  return { values, cumulative, total };
}

function percentileWindow(modality: Float64Array, counts: Float64Array, lowPct: number, highPct: number): { center: number; width: number } {
  const { values, cumulative, total } = presentValues(modality, counts);
  if (total === 0) return { center: 0, width: 1 };
  const at = (pct: number): number => {
    const target = (pct / 100) * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) >= target) hi = mid;
      else lo = mid + 1;
    }
    return values[lo] as number;
  };
  const low = at(lowPct);
  const high = at(highPct);
  return { center: (low + high) / 2, width: Math.max(high - low, 1) };
}

function minMax(modality: Float64Array, counts: Float64Array): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let p = 0; p < counts.length; p++) {
    if ((counts[p] as number) === 0) continue;
    const v = modality[p] as number;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === Infinity ? [0, 0] : [min, max];
}

/** Share of (unpadded) pixels that a display table sends to pure black or white. */
function saturation(table: Uint16Array, counts: Float64Array): number {
  let extreme = 0;
  let total = 0;
  for (let p = 0; p < counts.length; p++) {
    const n = counts[p] as number;
    if (n === 0) continue;
    total += n;
    const v = table[p] as number;
    if (v === 0 || v === OUT_MAX) extreme += n;
  }
  return total === 0 ? 0 : extreme / total;
}

function parseVoiFunction(reader: AttributeReader, issues: DicomIssue[]): VoiFunction {
  const text = reader.string(Tag.VoiLutFunction);
  if (text === undefined) return 'LINEAR';
  const upper = text.toUpperCase();
  if (upper === 'LINEAR' || upper === 'LINEAR_EXACT' || upper === 'SIGMOID') return upper;
  issues.push({ code: 'HF_DICOM_W_VOI_ATTRIBUTE_IGNORED', tag: '(0028,1056)', message: `VOI LUT Function "${text}" is not defined by the standard; LINEAR was used.` });
  return 'LINEAR';
}

/**
 * Runs Modality LUT → padding → VOI → polarity on a stored frame. The output always has MONOCHROME2
 * polarity: MONOCHROME1 images are inverted after the VOI, as PS3.3 C.7.6.3.1.2 prescribes for display.
 */
export function runPipeline(frame: StoredFrame, attrs: PixelAttributes, reader: AttributeReader | undefined, options: PipelineOptions, issues: DicomIssue[], keepModality = false): PipelineResult {
  const domain = domainOf(frame);
  const modality = modalityTable(frame, reader);
  const padding = paddingPatterns(frame, domain, reader);
  const counts = histogramOf(frame, domain);
  if (padding !== undefined) for (let p = 0; p < domain.size; p++) if (padding[p] === 1) counts[p] = 0;
  const choice = options.voi ?? 'auto';
  const index = options.voiIndex ?? 0;
  const [lowPct, highPct] = options.percentiles ?? [0.5, 99.5];
  const limit = options.saturationLimit ?? 0.95;
  const mono1 = attrs.photometricInterpretation === 'MONOCHROME1' && !frame.fromColour;
  // Windows invert inside windowTable (before truncation); other VOI kinds are inverted at the end.
  let invertedAlready = false;
  let table: Uint16Array | undefined;
  let voi: AppliedVoi | undefined;

  if (frame.fromColour || choice === 'none') {
    // No VOI: the full range of the stored bits maps linearly to the output.
    const max = 2 ** frame.bitsStored - 1;
    const min = frame.signed ? -(2 ** (frame.bitsStored - 1)) : 0;
    const span = frame.signed ? max / 2 - min : max - min;
    table = new Uint16Array(domain.size);
    for (let p = 0; p < domain.size; p++) table[p] = Math.floor(Math.min(1, Math.max(0, ((modality[p] as number) - min) / span)) * OUT_MAX);
    voi = { source: 'none' };
  } else if (typeof choice === 'object') {
    const fn = choice.function ?? 'LINEAR';
    table = windowTable(modality, choice.center, choice.width, fn, mono1);
    invertedAlready = mono1;
    voi = { source: 'explicit', center: choice.center, width: choice.width, function: fn };
  } else if (choice === 'minmax') {
    const [min, max] = minMax(modality, counts);
    const center = (min + max) / 2;
    const width = Math.max(max - min, 1);
    table = windowTable(modality, center, width, 'LINEAR_EXACT', mono1);
    invertedAlready = mono1;
    voi = { source: 'minmax', center, width, function: 'LINEAR_EXACT' };
  } else if (choice !== 'percentile' && reader !== undefined) {
    const centers = reader.decimals(Tag.WindowCenter);
    const widths = reader.decimals(Tag.WindowWidth);
    const lutItems = reader.items(Tag.VoiLutSequence);
    const useWindow = choice !== 'voi-lut' && centers.length > 0 && widths.length > 0;
    if (useWindow) {
      const i = Math.min(index, centers.length - 1, widths.length - 1);
      const center = centers[i] as number;
      const width = widths[i] as number;
      const fn = parseVoiFunction(reader, issues);
      const minWidth = fn === 'LINEAR' ? 1 : 0;
      if (!(width > minWidth)) {
        issues.push({ code: 'HF_DICOM_W_VOI_ATTRIBUTE_IGNORED', tag: '(0028,1051)', message: `Window Width ${width} is not valid for ${fn} (must exceed ${minWidth}); the percentile window was used.` });
      } else {
        const candidate = windowTable(modality, center, width, fn, mono1);
        const saturated = saturation(candidate, counts);
        if (choice === 'auto' && saturated >= limit) {
          const fallback = percentileWindow(modality, counts, lowPct, highPct);
          const reason = `header window (centre ${center}, width ${width}) leaves ${(saturated * 100).toFixed(1)} % of pixels black or white`;
          issues.push({ code: 'HF_DICOM_W_VOI_FALLBACK', tag: '(0028,1050)', message: `${reason}; a ${lowPct}–${highPct} percentile window (centre ${fallback.center}, width ${fallback.width}) was used instead.` });
          table = windowTable(modality, fallback.center, fallback.width, 'LINEAR_EXACT', mono1);
          voi = { source: 'percentile', center: fallback.center, width: fallback.width, function: 'LINEAR_EXACT', fallbackFrom: { center, width, reason } };
        } else {
          table = candidate;
          voi = { source: 'window', center, width, function: fn };
        }
        invertedAlready = mono1;
      }
    } else if (lutItems.length > 0 && choice !== 'window') {
      const item = lutItems[Math.min(index, lutItems.length - 1)] as AttributeReader;
      const lut = readLut(item, frame.signed);
      const scale = OUT_MAX / (2 ** lut.bits - 1);
      table = new Uint16Array(domain.size);
      for (let p = 0; p < domain.size; p++) table[p] = Math.floor(Math.min(OUT_MAX, lookup(lut, modality[p] as number) * scale));
      voi = { source: 'voi-lut' };
    }
  }
  if (table === undefined || voi === undefined) {
    const { center, width } = percentileWindow(modality, counts, lowPct, highPct);
    table = windowTable(modality, center, width, 'LINEAR_EXACT', mono1);
    invertedAlready = mono1;
    voi = { source: 'percentile', center, width, function: 'LINEAR_EXACT' };
  }
  if (mono1 && !invertedAlready) for (let p = 0; p < domain.size; p++) table[p] = OUT_MAX - (table[p] as number);
  if (padding !== undefined) for (let p = 0; p < domain.size; p++) if (padding[p] === 1) table[p] = 0;
  // The only per-pixel pass: look every sample up in the finished table.
  const { samples, shift } = frame;
  const mask = domain.mask;
  const display = new Uint16Array(samples.length);
  for (let i = 0; i < samples.length; i++) display[i] = table[((samples[i] as number) >>> shift) & mask] as number;
  let perPixelModality: Float64Array | undefined;
  if (keepModality) {
    perPixelModality = new Float64Array(samples.length);
    for (let i = 0; i < samples.length; i++) perPixelModality[i] = modality[((samples[i] as number) >>> shift) & mask] as number;
  }
  return { display, modality: perPixelModality, voi };
}

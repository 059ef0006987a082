// DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header of segment offsets, then one PackBits segment per
// byte plane (most significant byte first, sample by sample). Small enough to own rather than depend on.
import type { CodecFrame, FrameShape } from './codecs.js';

export function decodeRle(encoded: Uint8Array, shape: FrameShape): CodecFrame {
  if (encoded.length < 64) throw new Error(`RLE frame is ${encoded.length} bytes, shorter than its 64-byte header`);
  const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  const segmentCount = view.getUint32(0, true);
  const bytesPerSample = shape.bitsAllocated / 8;
  const expected = bytesPerSample * shape.samplesPerPixel;
  if (segmentCount !== expected) {
    throw new Error(`RLE header lists ${segmentCount} segments; ${expected} expected for ${shape.samplesPerPixel} sample(s) of ${shape.bitsAllocated} bits`);
  }
  const pixelCount = shape.rows * shape.columns;
  const offsets: number[] = [];
  for (let s = 0; s < segmentCount; s++) offsets.push(view.getUint32(4 + 4 * s, true));
  offsets.push(encoded.length);
  const planes: Uint8Array[] = [];
  for (let s = 0; s < segmentCount; s++) {
    const start = offsets[s] as number;
    const end = Math.min(offsets[s + 1] as number, encoded.length);
    if (start < 64 || start > encoded.length) throw new Error(`RLE segment ${s} offset ${start} lies outside the frame (${encoded.length} bytes)`);
    planes.push(unpackBits(encoded.subarray(start, Math.max(start, end)), pixelCount));
  }
  const samples = bytesPerSample === 1 ? new Uint8Array(pixelCount * shape.samplesPerPixel) : new Uint16Array(pixelCount * shape.samplesPerPixel);
  for (let c = 0; c < shape.samplesPerPixel; c++) {
    if (bytesPerSample === 1) {
      const plane = planes[c] as Uint8Array;
      for (let i = 0; i < pixelCount; i++) samples[i * shape.samplesPerPixel + c] = plane[i] as number;
    } else {
      const high = planes[2 * c] as Uint8Array;
      const low = planes[2 * c + 1] as Uint8Array;
      for (let i = 0; i < pixelCount; i++) samples[i * shape.samplesPerPixel + c] = ((high[i] as number) << 8) | (low[i] as number);
    }
  }
  return { width: shape.columns, height: shape.rows, components: shape.samplesPerPixel, bitsPerSample: shape.bitsAllocated, samples };
}

/** PackBits: n in 0..127 copies n+1 literal bytes; n in -127..-1 repeats the next byte 1-n times; -128 is a no-op. */
function unpackBits(segment: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let i = 0;
  let o = 0;
  while (i < segment.length && o < length) {
    const n = ((segment[i++] as number) << 24) >> 24;
    if (n >= 0) {
      const count = Math.min(n + 1, length - o, segment.length - i);
      out.set(segment.subarray(i, i + count), o);
      i += n + 1;
      o += count;
    } else if (n !== -128) {
      const value = segment[i++] as number;
      const count = Math.min(1 - n, length - o);
      out.fill(value, o, o + count);
      o += count;
    }
  }
  if (o < length) throw new Error(`RLE segment decodes to ${o} bytes; ${length} expected (data cut short)`);
  return out;
}

// Pulls the first frame out of the pixel data (native or encapsulated), decodes it, and turns samples into
// stored values with the pixel representation applied (bits stored, high bit, sign); colour becomes grey.
import { decodeCompressedFrame, type CodecFrame } from './codecs.js';
import { DicomError, formatTag, type DicomIssue } from './errors.js';
import { AttributeReader, Tag } from './header.js';
import { dicomParser, tagKey, type ParsedDicom } from './parse.js';

export interface PixelAttributes {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: number;
  readonly bitsAllocated: number;
  readonly bitsStored: number;
  readonly highBit: number;
  /** 0 unsigned, 1 two's complement. */
  readonly pixelRepresentation: number;
  readonly photometricInterpretation: string;
  readonly planarConfiguration: number;
  readonly numberOfFrames: number;
}

/**
 * One grey frame, ready for the Modality LUT. Samples are kept as decoded (no copy for native little-endian
 * data); the stored value of a sample is bits [shift, shift + bitsStored), two's complement when signed.
 * The pipeline works on a table over the ≤ 2^16 possible stored values instead of on every pixel.
 */
export interface StoredFrame {
  readonly rows: number;
  readonly columns: number;
  readonly samples: Uint8Array | Uint16Array;
  readonly shift: number;
  /** Bits and sign of the values (8-bit unsigned for colour converted to grey). */
  readonly bitsStored: number;
  readonly signed: boolean;
  /** True when the frame came from a colour image (no Modality LUT or VOI applies then). */
  readonly fromColour: boolean;
}

/** The stored value of every pixel (pixel representation applied), for tests and research output. */
export function storedValues(frame: StoredFrame): Int32Array {
  const mask = 2 ** frame.bitsStored - 1;
  const half = 2 ** (frame.bitsStored - 1);
  const out = new Int32Array(frame.samples.length);
  for (let i = 0; i < out.length; i++) {
    const v = ((frame.samples[i] as number) >>> frame.shift) & mask;
    out[i] = frame.signed && v >= half ? v - 2 * half : v;
  }
  return out;
}

export function readPixelAttributes(reader: AttributeReader): PixelAttributes {
  const rows = reader.requireUint16(Tag.Rows, 'Rows');
  const columns = reader.requireUint16(Tag.Columns, 'Columns');
  const bitsAllocated = reader.requireUint16(Tag.BitsAllocated, 'Bits Allocated');
  const bitsStored = reader.uint16(Tag.BitsStored) ?? bitsAllocated;
  const highBit = reader.uint16(Tag.HighBit) ?? bitsStored - 1;
  const samplesPerPixel = reader.uint16(Tag.SamplesPerPixel) ?? 1;
  const photometricInterpretation = (reader.string(Tag.PhotometricInterpretation) ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2')).toUpperCase();
  const frames = reader.decimal(Tag.NumberOfFrames);
  const attrs: PixelAttributes = {
    rows,
    columns,
    samplesPerPixel,
    bitsAllocated,
    bitsStored,
    highBit,
    pixelRepresentation: reader.uint16(Tag.PixelRepresentation) ?? 0,
    photometricInterpretation,
    planarConfiguration: reader.uint16(Tag.PlanarConfiguration) ?? 0,
    numberOfFrames: frames === undefined || frames < 1 ? 1 : Math.floor(frames),
  };
  const bad = (tag: number, name: string, value: number, fix: string): never => {
    throw new DicomError('HF_DICOM_BAD_ATTRIBUTE', `${name} has a value hipfrac cannot use.`, { file: reader.file, tag: formatTag(tag), value: String(value), fix });
  };
  if (rows === 0) bad(Tag.Rows, 'Rows', rows, 'The image has no rows; re-export it.');
  if (columns === 0) bad(Tag.Columns, 'Columns', columns, 'The image has no columns; re-export it.');
  if (![8, 16, 32].includes(bitsAllocated)) {
    throw new DicomError('HF_DICOM_UNSUPPORTED_PIXEL_FORMAT', `Bits Allocated ${bitsAllocated} is not supported (8, 16 or 32 expected).`, {
      file: reader.file,
      tag: '(0028,0100)',
      value: String(bitsAllocated),
      fix: 'Convert the image to 8 or 16 bits allocated, e.g. with gdcmconv --raw.',
    });
  }
  if (bitsStored > 16) {
    throw new DicomError('HF_DICOM_UNSUPPORTED_PIXEL_FORMAT', `Bits Stored ${bitsStored} is more than the 16 bits hipfrac handles.`, {
      file: reader.file,
      tag: '(0028,0101)',
      value: String(bitsStored),
      fix: 'Rescale the image to at most 16 bits stored.',
    });
  }
  if (bitsStored < 1 || bitsStored > bitsAllocated) bad(Tag.BitsStored, 'Bits Stored', bitsStored, 'Bits Stored must be between 1 and Bits Allocated.');
  if (highBit < bitsStored - 1 || highBit >= bitsAllocated) bad(Tag.HighBit, 'High Bit', highBit, 'High Bit must lie between Bits Stored − 1 and Bits Allocated − 1.');
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) bad(Tag.SamplesPerPixel, 'Samples per Pixel', samplesPerPixel, 'Only 1 (grey) or 3 (colour) samples are supported.');
  if (photometricInterpretation === 'PALETTE COLOR') {
    throw new DicomError('HF_DICOM_UNSUPPORTED_PIXEL_FORMAT', 'PALETTE COLOR images are not supported for radiographs.', {
      file: reader.file,
      tag: '(0028,0004)',
      value: photometricInterpretation,
      fix: 'Convert the image to MONOCHROME2 or RGB first.',
    });
  }
  return attrs;
}

/** Raw (still encoded) bytes of frame 0, and whether the frame holds more than one frame in the file. */
function encapsulatedFirstFrame(parsed: ParsedDicom, attrs: PixelAttributes): Uint8Array {
  const { dataSet } = parsed;
  const element = dataSet.elements[tagKey(Tag.PixelData)];
  if (element === undefined) throw new Error('no pixel data');
  const fragments = element.fragments ?? [];
  if (fragments.length === 0) throw new Error('encapsulated pixel data has no fragments');
  if (attrs.numberOfFrames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, 0, fragments.length);
  const table = element.basicOffsetTable ?? [];
  if (table.length > 0) return dicomParser.readEncapsulatedImageFrame(dataSet, element, 0);
  if (fragments.length === attrs.numberOfFrames) return dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, 0, 1);
  const jpegTable = dicomParser.createJPEGBasicOffsetTable(dataSet, element);
  return dicomParser.readEncapsulatedImageFrame(dataSet, element, 0, jpegTable);
}

function nativeFirstFrame(parsed: ParsedDicom, attrs: PixelAttributes, issues: DicomIssue[]): CodecFrame {
  const element = parsed.dataSet.elements[tagKey(Tag.PixelData)];
  if (element === undefined) throw new Error('no pixel data');
  const bytesPerSample = attrs.bitsAllocated / 8;
  const frameBytes = attrs.rows * attrs.columns * attrs.samplesPerPixel * bytesPerSample;
  const available = Math.min(element.length, parsed.dataSet.byteArray.length - element.dataOffset);
  if (available < frameBytes) {
    throw new DicomError('HF_DICOM_PIXEL_DATA_SHORT', `Pixel Data holds ${available} bytes; one frame of ${attrs.rows}×${attrs.columns}×${attrs.samplesPerPixel} at ${attrs.bitsAllocated} bits needs ${frameBytes}.`, {
      file: parsed.file,
      tag: '(7FE0,0010)',
      value: String(available),
      fix: 'The file was cut short or Rows/Columns/Bits Allocated are wrong; re-export it.',
    });
  }
  const allFrames = frameBytes * attrs.numberOfFrames;
  if (element.length > allFrames + 1) {
    issues.push({ code: 'HF_DICOM_W_PIXEL_DATA_LONG', tag: '(7FE0,0010)', message: `Pixel Data holds ${element.length} bytes, more than the ${allFrames} its attributes need; the extra bytes were ignored.` });
  }
  const src = parsed.dataSet.byteArray;
  const start = element.dataOffset;
  const count = attrs.rows * attrs.columns * attrs.samplesPerPixel;
  const littleEndian = parsed.transferSyntax.littleEndian;
  let samples: Uint8Array | Uint16Array;
  if (bytesPerSample === 1) {
    samples = src.subarray(start, start + count);
  } else if (bytesPerSample === 2) {
    if (littleEndian && (src.byteOffset + start) % 2 === 0) {
      // A view on the file's bytes: no copy (the host is little endian, as every Node platform is).
      samples = new Uint16Array(src.buffer, src.byteOffset + start, count);
    } else {
      samples = new Uint16Array(count);
      for (let i = 0, p = start; i < count; i++, p += 2) {
        samples[i] = littleEndian ? (src[p] as number) | ((src[p + 1] as number) << 8) : ((src[p] as number) << 8) | (src[p + 1] as number);
      }
    }
  } else {
    throw new DicomError('HF_DICOM_UNSUPPORTED_PIXEL_FORMAT', '32-bit native pixel data is not supported.', { file: parsed.file, tag: '(0028,0100)', value: '32', fix: 'Rescale the image to 16 bits.' });
  }
  if (attrs.samplesPerPixel === 3 && attrs.planarConfiguration === 1) samples = interleavePlanes(samples, attrs.rows * attrs.columns);
  return { width: attrs.columns, height: attrs.rows, components: attrs.samplesPerPixel, bitsPerSample: attrs.bitsAllocated, samples };
}

function interleavePlanes(planar: Uint8Array | Uint16Array, pixels: number): Uint8Array | Uint16Array {
  const out = planar instanceof Uint8Array ? new Uint8Array(planar.length) : new Uint16Array(planar.length);
  for (let i = 0; i < pixels; i++) {
    out[3 * i] = planar[i] as number;
    out[3 * i + 1] = planar[pixels + i] as number;
    out[3 * i + 2] = planar[2 * pixels + i] as number;
  }
  return out;
}

/** Decodes frame 0 to stored values. Multi-frame files record that only the first frame was used. */
export async function decodeFirstFrame(parsed: ParsedDicom, attrs: PixelAttributes, issues: DicomIssue[]): Promise<StoredFrame> {
  const encoding = parsed.transferSyntax.encoding;
  if (attrs.numberOfFrames > 1) {
    issues.push({ code: 'HF_DICOM_W_FIRST_FRAME_ONLY', tag: '(0028,0008)', message: `Multi-frame image (${attrs.numberOfFrames} frames): only the first frame was used.` });
  }
  let frame: CodecFrame;
  if (encoding === 'native') {
    frame = nativeFirstFrame(parsed, attrs, issues);
  } else {
    try {
      frame = await decodeCompressedFrame(encoding, encapsulatedFirstFrame(parsed, attrs), attrs);
    } catch (cause) {
      if (cause instanceof DicomError) throw cause;
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new DicomError('HF_DICOM_DECODE_FAILED', `The ${parsed.transferSyntax.name} pixel data could not be decoded (${message}).`, {
        file: parsed.file,
        tag: '(7FE0,0010)',
        value: parsed.transferSyntax.uid,
        fix: 'Check the file with `dcmdump`/`dcmj2pnm`; if they fail too the pixel data is damaged — re-export it.',
        cause,
      });
    }
    if (frame.width !== attrs.columns || frame.height !== attrs.rows) {
      throw new DicomError('HF_DICOM_DECODE_FAILED', `The compressed frame is ${frame.width}×${frame.height}, but Rows/Columns say ${attrs.columns}×${attrs.rows}.`, {
        file: parsed.file,
        tag: '(0028,0010)',
        value: `${attrs.rows}`,
        fix: 'Correct Rows (0028,0010) and Columns (0028,0011) or re-export the image.',
      });
    }
  }
  if (frame.components === 3 || attrs.samplesPerPixel === 3) return colourToGrey(frame, attrs, encoding, issues);
  return toStoredFrame(frame, attrs, encoding === 'native', issues);
}

function toStoredFrame(frame: CodecFrame, attrs: PixelAttributes, native: boolean, issues: DicomIssue[]): StoredFrame {
  // Native data keeps its bits between High Bit and High Bit − Bits Stored + 1; codecs return them at bit 0.
  const shift = native ? attrs.highBit + 1 - attrs.bitsStored : 0;
  const signed = attrs.pixelRepresentation === 1;
  if (!native && !signed) {
    const limit = 2 ** attrs.bitsStored - 1;
    const samples = frame.samples;
    let max = 0;
    for (let i = 0; i < samples.length; i++) if ((samples[i] as number) > max) max = samples[i] as number;
    if (max > limit) {
      issues.push({ code: 'HF_DICOM_W_STORED_BITS_OVERFLOW', tag: '(0028,0101)', message: `Decoded samples exceed Bits Stored (${attrs.bitsStored}); the high bits were masked off as the standard requires.` });
    }
  }
  return { rows: frame.height, columns: frame.width, samples: frame.samples, shift, bitsStored: attrs.bitsStored, signed, fromColour: false };
}

function colourToGrey(frame: CodecFrame, attrs: PixelAttributes, encoding: string, issues: DicomIssue[]): StoredFrame {
  const count = frame.width * frame.height;
  const values = frame.bitsPerSample > 8 ? new Uint16Array(count) : new Uint8Array(count);
  const s = frame.samples;
  // libjpeg-turbo and OpenJPEG undo the YCbCr/MCT colour transform themselves and hand back RGB.
  const decodedRgb = encoding === 'jpeg-baseline' || encoding === 'jpeg2000' || encoding === 'htj2k' || (encoding === 'jpeg-extended' && frame.bitsPerSample === 8);
  const photometric = decodedRgb ? 'RGB' : attrs.photometricInterpretation;
  const isYbr = photometric.startsWith('YBR');
  const bits = Math.min(frame.bitsPerSample, 16);
  for (let i = 0; i < count; i++) {
    const r = s[3 * i] as number;
    if (isYbr) values[i] = r; // the luma plane is the grey image
    else values[i] = Math.round(0.299 * r + 0.587 * (s[3 * i + 1] as number) + 0.114 * (s[3 * i + 2] as number));
  }
  issues.push({ code: 'HF_DICOM_W_COLOUR_TO_GREY', tag: '(0028,0004)', message: `Colour image (${attrs.photometricInterpretation}) converted to grey (${isYbr ? 'luma plane' : 'ITU-R BT.601 luma'}).` });
  return { rows: frame.height, columns: frame.width, samples: values, shift: 0, bitsStored: bits, signed: false, fromColour: true };
}

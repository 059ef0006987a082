// The room's main entry: a DICOM file in, a grey display image plus the attributes the dataset needs out,
// as a throwing readDicom or a result-returning tryReadDicom that keeps the issues beside the outcome.
import { readFile } from 'node:fs/promises';
import { DicomError, type DicomIssue } from './errors.js';
import { decodeFirstFrame, readPixelAttributes, storedValues, type PixelAttributes } from './frames.js';
import { AttributeReader, Tag } from './header.js';
import { parseDicomBytes, tagKey } from './parse.js';
import { runPipeline, type AppliedVoi, type PipelineOptions } from './pixels.js';
import { nonImageReason } from './uids.js';

/** Attributes read from the header. Identifying ones are here so callers can pseudonymise them; never write them out. */
export interface DicomHeader {
  readonly sopClassUid: string | undefined;
  readonly sopInstanceUid: string | undefined;
  readonly studyInstanceUid: string | undefined;
  readonly seriesInstanceUid: string | undefined;
  readonly patientId: string | undefined;
  readonly patientName: string | undefined;
  readonly accessionNumber: string | undefined;
  readonly modality: string | undefined;
  readonly viewPosition: string | undefined;
  readonly imageLaterality: string | undefined;
  readonly laterality: string | undefined;
  readonly seriesDescription: string | undefined;
  readonly protocolName: string | undefined;
  readonly bodyPartExamined: string | undefined;
  readonly manufacturer: string | undefined;
  readonly manufacturerModelName: string | undefined;
  /** Row and column spacing in mm: Pixel Spacing, else Imager Pixel Spacing. */
  readonly pixelSpacing: readonly [number, number] | undefined;
  readonly transferSyntaxUid: string;
}

export interface DicomImage {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  /** Display values 0..65535, MONOCHROME2 polarity, after Modality LUT, padding, VOI and polarity. */
  readonly display: Uint16Array;
  /** Stored values (pixel representation applied) and modality values: kept only with keepIntermediate. */
  readonly stored?: Int32Array;
  readonly modality?: Float64Array;
  readonly pixel: PixelAttributes;
  readonly header: DicomHeader;
  readonly voi: AppliedVoi;
  readonly issues: readonly DicomIssue[];
}

export interface ReadDicomOptions extends PipelineOptions {
  /** Keep stored and modality values on the result (tests, research); costs memory. */
  readonly keepIntermediate?: boolean;
}

export type ReadDicomResult =
  | { readonly ok: true; readonly image: DicomImage; readonly issues: readonly DicomIssue[] }
  | { readonly ok: false; readonly error: DicomError; readonly issues: readonly DicomIssue[] };

function readHeader(reader: AttributeReader, transferSyntaxUid: string): DicomHeader {
  const spacing = reader.decimals(Tag.PixelSpacing);
  const imager = reader.decimals(Tag.ImagerPixelSpacing);
  const pair = spacing.length >= 2 ? spacing : imager.length >= 2 ? imager : undefined;
  return {
    sopClassUid: reader.string(Tag.SopClassUid),
    sopInstanceUid: reader.string(Tag.SopInstanceUid),
    studyInstanceUid: reader.string(Tag.StudyInstanceUid),
    seriesInstanceUid: reader.string(Tag.SeriesInstanceUid),
    patientId: reader.string(Tag.PatientId),
    patientName: reader.string(Tag.PatientName),
    accessionNumber: reader.string(Tag.AccessionNumber),
    modality: reader.string(Tag.Modality),
    viewPosition: reader.string(Tag.ViewPosition),
    imageLaterality: reader.string(Tag.ImageLaterality),
    laterality: reader.string(Tag.Laterality),
    seriesDescription: reader.string(Tag.SeriesDescription),
    protocolName: reader.string(Tag.ProtocolName),
    bodyPartExamined: reader.string(Tag.BodyPartExamined),
    manufacturer: reader.string(Tag.Manufacturer),
    manufacturerModelName: reader.string(Tag.ManufacturerModelName),
    pixelSpacing: pair === undefined ? undefined : [pair[0] as number, pair[1] as number],
    transferSyntaxUid,
  };
}

/** Decodes DICOM bytes to a display image. Throws DicomError. */
export async function readDicomBytes(bytes: Uint8Array, file: string, options: ReadDicomOptions = {}): Promise<DicomImage> {
  const parsed = parseDicomBytes(bytes, file);
  const issues = parsed.issues;
  try {
    return await decodeParsed(parsed, file, options);
  } catch (thrown) {
    const error = thrown instanceof DicomError ? thrown : malformed(thrown, file);
    // Keep what was noticed before the failure beside the error (e.g. "no preamble").
    error.issues.push(...issues);
    throw error;
  }
}

/**
 * The reader's boundary: dicom-parser throws plain strings when a value it is asked for runs past the buffer
 * (a lying length the lenient parse let through), and typed-array reads throw RangeError on the same. Both mean
 * a damaged file, never a bug to show the user as a stack trace.
 */
function malformed(thrown: unknown, file: string): DicomError {
  const message = typeof thrown === 'string' ? thrown : thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
  return new DicomError('HF_DICOM_MALFORMED', `The file is not well-formed DICOM: an element's value does not fit where its length says (${message}).`, {
    file,
    fix: 'Check the file with dciodvfy or dcmdump; re-export it from the source.',
    cause: thrown,
  });
}

async function decodeParsed(parsed: ReturnType<typeof parseDicomBytes>, file: string, options: ReadDicomOptions): Promise<DicomImage> {
  const issues = parsed.issues;
  const reader = new AttributeReader(parsed.dataSet, file);
  const header = readHeader(reader, parsed.transferSyntax.uid);
  const reason = header.sopClassUid === undefined ? undefined : nonImageReason(header.sopClassUid);
  if (reason !== undefined) {
    throw new DicomError('HF_DICOM_NOT_AN_IMAGE', `Not an image: the SOP class is ${reason}; skipped.`, {
      file,
      tag: '(0008,0016)',
      value: header.sopClassUid,
      fix: 'Nothing to do: only image objects are imported.',
    });
  }
  if (parsed.dataSet.elements[tagKey(Tag.PixelData)] === undefined) {
    throw new DicomError('HF_DICOM_NO_PIXEL_DATA', 'The file has no Pixel Data (7FE0,0010) element.', {
      file,
      tag: '(7FE0,0010)',
      fix: 'Re-export the image with its pixel data; some exports strip it (e.g. "headers only").',
    });
  }
  const pixel = readPixelAttributes(reader);
  const frame = await decodeFirstFrame(parsed, pixel, issues);
  const keep = options.keepIntermediate === true;
  const result = runPipeline(frame, pixel, reader, options, issues, keep);
  return {
    file,
    width: frame.columns,
    height: frame.rows,
    display: result.display,
    ...(keep ? { stored: storedValues(frame), ...(result.modality === undefined ? {} : { modality: result.modality }) } : {}),
    pixel,
    header,
    voi: result.voi,
    issues,
  };
}

/** Reads and decodes a DICOM file. Throws DicomError naming the file, tag and fix. */
export async function readDicom(path: string, options: ReadDicomOptions = {}): Promise<DicomImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new DicomError('HF_DICOM_READ_FAILED', `The file could not be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)}).`, {
      file: path,
      fix: 'Check that the path exists and is readable.',
      cause,
    });
  }
  return readDicomBytes(bytes, path, options);
}

/** Like readDicom, but returns the error as a value; the issues found so far are kept either way. */
export async function tryReadDicom(path: string, options: ReadDicomOptions = {}): Promise<ReadDicomResult> {
  try {
    const image = await readDicom(path, options);
    return { ok: true, image, issues: image.issues };
  } catch (error) {
    if (error instanceof DicomError) return { ok: false, error, issues: error.issues };
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, error: new DicomError('HF_DICOM_MALFORMED', `Unexpected failure while reading (${message}).`, { file: path, fix: 'Report this file to the hipfrac maintainers with `dcmdump` output.', cause: error }), issues: [] };
  }
}

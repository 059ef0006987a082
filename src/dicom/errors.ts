// The DICOM room's catalog of coded errors and warnings: each names the file, the tag or value at fault
// and what to do. Codes are stable; a retired code is never reused.
import { HipfracError } from '../util/index.js';

/** Errors: the file cannot become an image. */
export type DicomErrorCode =
  | 'HF_DICOM_EMPTY_FILE'
  | 'HF_DICOM_NOT_DICOM'
  | 'HF_DICOM_TRUNCATED'
  | 'HF_DICOM_MALFORMED'
  | 'HF_DICOM_NOT_AN_IMAGE'
  | 'HF_DICOM_NO_PIXEL_DATA'
  | 'HF_DICOM_MISSING_ATTRIBUTE'
  | 'HF_DICOM_BAD_ATTRIBUTE'
  | 'HF_DICOM_UNSUPPORTED_TRANSFER_SYNTAX'
  | 'HF_DICOM_UNSUPPORTED_PIXEL_FORMAT'
  | 'HF_DICOM_PIXEL_DATA_SHORT'
  | 'HF_DICOM_DECODE_FAILED'
  | 'HF_DICOM_READ_FAILED'
  | 'HF_DICOM_SALT'
  | 'HF_DICOM_WRITE';

/** Warnings: the image was produced, but something about it should be known (kept beside the result). */
export type DicomWarningCode =
  | 'HF_DICOM_W_NO_PART10_HEADER'
  | 'HF_DICOM_W_FIRST_FRAME_ONLY'
  | 'HF_DICOM_W_COLOUR_TO_GREY'
  | 'HF_DICOM_W_VOI_FALLBACK'
  | 'HF_DICOM_W_VOI_ATTRIBUTE_IGNORED'
  | 'HF_DICOM_W_PIXEL_DATA_LONG'
  | 'HF_DICOM_W_STORED_BITS_OVERFLOW';

/** Errors of this kind mean "not a radiograph": the importer skips them instead of counting a failure. */
export const SKIP_CODES: ReadonlySet<DicomErrorCode> = new Set(['HF_DICOM_NOT_AN_IMAGE']);

export interface DicomIssue {
  readonly code: DicomWarningCode;
  readonly message: string;
  /** The tag concerned, as (gggg,eeee), when there is one. */
  readonly tag?: string;
}

export interface DicomErrorDetails {
  /** The file path (or a label for an in-memory buffer). */
  readonly file: string;
  readonly tag?: string;
  readonly value?: string;
  readonly fix?: string;
  readonly cause?: unknown;
}

export class DicomError extends HipfracError {
  override readonly code: DicomErrorCode;
  readonly file: string;
  readonly tag: string | undefined;
  readonly value: string | undefined;
  /** Warnings met before the failure. */
  readonly issues: DicomIssue[] = [];

  constructor(code: DicomErrorCode, message: string, details: DicomErrorDetails) {
    const where = [details.file];
    if (details.tag !== undefined) where.push(`tag ${details.tag}`);
    if (details.value !== undefined) where.push(`value ${JSON.stringify(details.value)}`);
    super(code, message, {
      input: where.join(', '),
      ...(details.fix === undefined ? {} : { fix: details.fix }),
      ...(details.cause === undefined ? {} : { cause: details.cause }),
    });
    this.name = 'DicomError';
    this.code = code;
    this.file = details.file;
    this.tag = details.tag;
    this.value = details.value;
  }

  /** True for files that are valid DICOM but not images to import (SR, RT plans, …). */
  get isSkip(): boolean {
    return SKIP_CODES.has(this.code);
  }
}

/** Formats a tag number 0xggggeeee as the standard's (gggg,eeee). */
export function formatTag(tag: number): string {
  const hex = (tag >>> 0).toString(16).padStart(8, '0').toUpperCase();
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

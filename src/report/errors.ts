// The report room's catalog of coded errors: bad section ids, images that would not be self-contained,
// patient identifiers offered to the report, charts that failed to render, files that could not be written.
import { HipfracError } from '../util/index.js';

export type ReportErrorCode =
  | 'HF_REPORT_SECTION_ID'
  | 'HF_REPORT_BAD_IMAGE'
  | 'HF_REPORT_IDENTIFIER'
  | 'HF_REPORT_BAD_DATA'
  | 'HF_REPORT_CHART_FAILED'
  | 'HF_REPORT_WRITE_FAILED';

export class ReportError extends HipfracError {
  override readonly code: ReportErrorCode;

  constructor(code: ReportErrorCode, message: string, input: string, fix: string, cause?: unknown) {
    super(code, message, { input, fix, ...(cause === undefined ? {} : { cause }) });
    this.name = 'ReportError';
    this.code = code;
  }
}

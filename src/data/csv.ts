// The one CSV reader (csv-parse underneath): RFC 4180 quoting, a byte-order mark, CRLF/LF/CR line ends, and the
// semicolon-separated files spreadsheets write in locales with a decimal comma. Records keep their first line number.
import { parse } from 'csv-parse/sync';
import { DataError } from './errors.js';

export interface CsvRecord {
  readonly fields: string[];
  /** 1-based line on which the record starts (the header is line 1). */
  readonly line: number;
}

/** ';' when the header line has semicolons and no commas (a spreadsheet export), else ','. */
function delimiterOf(text: string): ',' | ';' {
  const firstLine = text.replace(/^\ufeff/, '').split(/\r\n|\n|\r/, 1)[0] ?? '';
  return firstLine.includes(';') && !firstLine.includes(',') ? ';' : ',';
}

/** Line breaks inside a record's quoted fields: as lines (CRLF one), and as csv-parse counts them (CR and LF each one). */
function breaksIn(fields: readonly string[]): { lines: number; counted: number } {
  let lines = 0;
  let counted = 0;
  for (const f of fields) {
    lines += f.match(/\r\n|\n|\r/g)?.length ?? 0;
    counted += f.match(/\r|\n/g)?.length ?? 0;
  }
  return { lines, counted };
}

/**
 * Splits CSV text into records (empty lines skipped). Throws HF_DATA_CSV_MALFORMED naming the line of an unclosed
 * or stray quote; `file` only names the input in that message.
 */
export function parseCsv(text: string, file = 'CSV'): CsvRecord[] {
  let parsed: { record: string[]; info: { lines: number } }[];
  try {
    parsed = parse(text, {
      bom: true,
      delimiter: delimiterOf(text),
      record_delimiter: ['\r\n', '\n', '\r'],
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (cause) {
    const line = (cause as { lines?: number }).lines;
    throw new DataError('HF_DATA_CSV_MALFORMED', `${line === undefined ? '' : `line ${line}: `}the CSV cannot be parsed (${(cause as Error).message}).`, {
      input: file,
      fix: 'quote fields that hold commas, semicolons, quotes or line breaks ("a, b"; a quote inside is written twice: "").',
      cause,
    });
  }
  // csv-parse's info.lines is the line a record ends on, counting a CRLF inside a quoted field as two lines.
  let overcount = 0;
  return parsed.map(({ record, info }) => {
    const breaks = breaksIn(record);
    overcount += breaks.counted - breaks.lines;
    return { fields: record, line: info.lines - overcount - breaks.lines };
  });
}

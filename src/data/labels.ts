// Label CSVs: parsing (RFC 4180 quoting), choosing the join column (SOP Instance UID, accession or path)
// and the label column, and a report of bad rows and of rows that matched no image.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { HipfracError } from '../util/index.js';

export type LabelJoin = 'sop' | 'accession' | 'path';

export interface LabelRow {
  /** 1-based line number in the CSV (header is line 1). */
  readonly line: number;
  readonly key: string;
  readonly label: number;
  readonly labelName: string;
  readonly fields: Readonly<Record<string, string>>;
}

export interface BadLabelRow {
  readonly line: number;
  readonly reason: string;
}

export interface LabelTable {
  readonly file: string;
  readonly join: LabelJoin;
  readonly keyColumn: string;
  readonly labelColumn: string;
  readonly rows: readonly LabelRow[];
  readonly bad: readonly BadLabelRow[];
  /** Class names by index, e.g. ['no-fracture', 'fracture']. */
  readonly classes: readonly string[];
}

const KEY_COLUMNS: Record<LabelJoin, readonly string[]> = {
  sop: ['sopinstanceuid', 'sop_instance_uid', 'sop_uid', 'sop', 'instance_uid'],
  accession: ['accessionnumber', 'accession_number', 'accession', 'acc'],
  path: ['path', 'file', 'filename', 'file_name', 'image', 'image_id', 'image_path'],
};
const LABEL_COLUMNS = ['label', 'fractured', 'fracture', 'class', 'target', 'diagnosis'];
const POSITIVE = new Set(['1', 'true', 'yes', 'y', 'fracture', 'fractured', 'positive', 'pos']);
const NEGATIVE = new Set(['0', 'false', 'no', 'n', 'normal', 'no-fracture', 'no_fracture', 'nofracture', 'negative', 'neg', 'intact']);

/** Splits CSV text into records of fields, honouring double-quoted fields with commas, quotes and newlines. */
export function parseCsv(text: string): { fields: string[]; line: number }[] {
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (quoted) {
      if (ch === '"') {
        if (body[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && body[i + 1] === '\n') i++;
      fields.push(field);
      if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: recordLine });
      fields = [];
      field = '';
      line++;
      recordLine = line;
    } else field += ch;
  }
  if (field !== '' || fields.length > 0) {
    fields.push(field);
    records.push({ fields, line: recordLine });
  }
  return records;
}

function normalise(name: string): string {
  return name.trim().toLowerCase();
}

export interface LabelOptions {
  readonly join: LabelJoin;
  /** Column names; found among the usual names when not given. */
  readonly keyColumn?: string;
  readonly labelColumn?: string;
}

/** Reads a label CSV. Throws HF_DATA_LABELS when the file or its required columns are missing. */
export async function readLabelCsv(file: string, options: LabelOptions): Promise<LabelTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new HipfracError('HF_DATA_LABELS', `The label file cannot be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)}).`, { input: file, fix: 'Check the --labels path.', cause });
  }
  return parseLabelTable(text, file, options);
}

export function parseLabelTable(text: string, file: string, options: LabelOptions): LabelTable {
  const records = parseCsv(text);
  const headerRecord = records[0];
  if (headerRecord === undefined) throw new HipfracError('HF_DATA_LABELS', 'The label file is empty.', { input: file, fix: 'Give a CSV with a header line, e.g. "sop_instance_uid,label".' });
  const header = headerRecord.fields.map((h) => h.trim());
  const lower = header.map(normalise);
  const pick = (wanted: string | undefined, candidates: readonly string[], what: string): number => {
    if (wanted !== undefined) {
      const i = lower.indexOf(normalise(wanted));
      if (i < 0) throw new HipfracError('HF_DATA_LABELS', `Column "${wanted}" (${what}) is not in the header (${header.join(', ')}).`, { input: file, fix: `Name an existing column or rename it in the CSV.` });
      return i;
    }
    const i = lower.findIndex((h) => candidates.includes(h));
    if (i < 0) throw new HipfracError('HF_DATA_LABELS', `No ${what} column found; looked for ${candidates.join(', ')} in the header (${header.join(', ')}).`, { input: file, fix: `Rename the column or pass it explicitly (--key-column / --label-column).` });
    return i;
  };
  const keyIndex = pick(options.keyColumn, KEY_COLUMNS[options.join], `${options.join} key`);
  const labelIndex = pick(options.labelColumn, LABEL_COLUMNS, 'label');
  const rows: LabelRow[] = [];
  const bad: BadLabelRow[] = [];
  const seen = new Map<string, LabelRow>();
  for (const record of records.slice(1)) {
    if (record.fields.length !== header.length) {
      bad.push({ line: record.line, reason: `has ${record.fields.length} fields; the header has ${header.length}` });
      continue;
    }
    const key = (record.fields[keyIndex] ?? '').trim();
    const raw = (record.fields[labelIndex] ?? '').trim();
    if (key === '') {
      bad.push({ line: record.line, reason: `empty ${header[keyIndex]}` });
      continue;
    }
    const value = normalise(raw);
    let label: number;
    let labelName: string;
    if (POSITIVE.has(value)) {
      label = 1;
      labelName = 'fracture';
    } else if (NEGATIVE.has(value)) {
      label = 0;
      labelName = 'no-fracture';
    } else if (/^\d+$/.test(value)) {
      label = Number(value);
      labelName = `class-${label}`;
    } else {
      bad.push({ line: record.line, reason: `label ${JSON.stringify(raw)} in column ${header[labelIndex]} is not a known class (0/1 or another integer, yes/no, true/false, fracture/normal)` });
      continue;
    }
    const fields: Record<string, string> = {};
    header.forEach((h, i) => (fields[h] = record.fields[i] ?? ''));
    const row: LabelRow = { line: record.line, key: options.join === 'path' ? key.replace(/\\/g, '/') : key, label, labelName, fields };
    const previous = seen.get(row.key);
    if (previous !== undefined) {
      bad.push({ line: record.line, reason: previous.label === label ? `repeats key ${JSON.stringify(key)} of line ${previous.line}` : `gives key ${JSON.stringify(key)} label ${label}, but line ${previous.line} gave ${previous.label}` });
      if (previous.label !== label) {
        const index = rows.indexOf(previous);
        if (index >= 0) rows.splice(index, 1);
      }
      continue;
    }
    seen.set(row.key, row);
    rows.push(row);
  }
  // A key whose lines disagree is dropped entirely: neither label can be trusted.
  const conflicted = new Set(bad.filter((b) => b.reason.includes('but line')).map((b) => b.reason.match(/key (".*?")/)?.[1] ?? ''));
  const kept = rows.filter((r) => !conflicted.has(JSON.stringify(r.key)));
  const classes = ['no-fracture', 'fracture'];
  return { file, join: options.join, keyColumn: header[keyIndex] as string, labelColumn: header[labelIndex] as string, rows: kept, bad, classes };
}

/** Looks labels up by key; a path key matches the relative path, else a unique file name. */
export class LabelIndex {
  private readonly byKey = new Map<string, LabelRow>();
  private readonly byBasename = new Map<string, LabelRow | null>();
  private readonly used = new Set<LabelRow>();

  constructor(readonly table: LabelTable) {
    for (const row of table.rows) {
      this.byKey.set(row.key, row);
      if (table.join === 'path') {
        const name = basename(row.key);
        this.byBasename.set(name, this.byBasename.has(name) ? null : row);
      }
    }
  }

  lookup(key: string | undefined): LabelRow | undefined {
    if (key === undefined) return undefined;
    let row = this.byKey.get(this.table.join === 'path' ? key.replace(/\\/g, '/') : key);
    if (row === undefined && this.table.join === 'path') row = this.byBasename.get(basename(key)) ?? undefined;
    if (row !== undefined) this.used.add(row);
    return row;
  }

  /** Label rows no image asked for. */
  unmatched(): LabelRow[] {
    return this.table.rows.filter((r) => !this.used.has(r));
  }
}

/** Label-file columns that give a region of interest (e.g. the hip) in source pixels, in order of preference. */
export const ROI_COLUMN_SETS = [
  ['hip_roi_x0', 'hip_roi_y0', 'hip_roi_x1', 'hip_roi_y1'],
  ['roi_x0', 'roi_y0', 'roi_x1', 'roi_y1'],
] as const;

/**
 * The region [x0, y0, x1, y1] in pixels that a row gives through one of ROI_COLUMN_SETS (`value` returns a column's
 * cell by lower-case name, undefined for a missing column): undefined when no set of columns is present, null when
 * the row's cells are empty, not numbers, or an empty box.
 */
export function roiFromColumns(value: (column: string) => string | undefined): [number, number, number, number] | null | undefined {
  const columns = ROI_COLUMN_SETS.find((set) => set.every((c) => value(c) !== undefined));
  if (columns === undefined) return undefined;
  const box = columns.map((c) => Number((value(c) ?? '').trim() || Number.NaN)) as [number, number, number, number];
  return box.every(Number.isFinite) && box[2] > box[0] && box[3] > box[1] ? box : null;
}

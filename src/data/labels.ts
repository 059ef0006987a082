// Label CSVs: choosing the join column (SOP Instance UID, accession or path)
// and the label column, and a report of bad rows and of rows that matched no image.
import { readFile } from 'node:fs/promises';
import path, { basename } from 'node:path';
import { classIndexOf, describeClassWords } from './classes.js';
import { parseCsv } from './csv.js';
import { DataError } from './errors.js';

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

function normalise(name: string): string {
  return name.trim().toLowerCase();
}

export interface LabelOptions {
  readonly join: LabelJoin;
  /** Column names; found among the usual names when not given. */
  readonly keyColumn?: string;
  readonly labelColumn?: string;
  /** The model's class names: labels may name them or give an index below their count. Default: any index. */
  readonly classes?: readonly string[];
}

async function readLabelText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new DataError('HF_DATA_LABELS_MISSING', `the label file cannot be read (${code ?? String(cause)}).`, {
      input: file,
      fix: code === 'ENOENT' ? 'check the --labels path: no file is there.' : 'check the --labels path and that the file is readable.',
      cause,
    });
  }
}

/** Reads a label CSV for import: bad rows are listed in the table, not thrown. Throws HF_DATA_LABELS_MISSING / HF_DATA_LABELS. */
export async function readLabelCsv(file: string, options: LabelOptions): Promise<LabelTable> {
  return parseLabelTable(await readLabelText(file), file, options);
}

function labelNameOf(label: number, classes: readonly string[] | undefined): string {
  if (classes !== undefined) return classes[label] ?? `class-${label}`;
  return label === 1 ? 'fracture' : label === 0 ? 'no-fracture' : `class-${label}`;
}

export function parseLabelTable(text: string, file: string, options: LabelOptions): LabelTable {
  const records = parseCsv(text, file);
  const headerRecord = records[0];
  if (headerRecord === undefined) throw new DataError('HF_DATA_LABELS', 'the label file is empty.', { input: file, fix: 'give a CSV with a header line, e.g. "file,label" or "sop_instance_uid,label".' });
  const header = headerRecord.fields.map((h) => h.trim());
  const lower = header.map(normalise);
  const pick = (wanted: string | undefined, candidates: readonly string[], what: string): number => {
    if (wanted !== undefined) {
      const i = lower.indexOf(normalise(wanted));
      if (i < 0) throw new DataError('HF_DATA_LABELS', `column "${wanted}" (${what}) is not in the header (${header.join(', ')}).`, { input: file, fix: 'name an existing column or rename it in the CSV.' });
      return i;
    }
    const i = lower.findIndex((h) => candidates.includes(h));
    if (i < 0) throw new DataError('HF_DATA_LABELS', `no ${what} column found; looked for ${candidates.join(', ')} in the header (${header.join(', ')}).`, { input: file, fix: 'rename the column or pass it explicitly (--key-column / --label-column).' });
    return i;
  };
  const keyIndex = pick(options.keyColumn, KEY_COLUMNS[options.join], `${options.join} key`);
  const labelIndex = pick(options.labelColumn, LABEL_COLUMNS, 'label');
  const keyName = header[keyIndex] as string;
  const labelName = header[labelIndex] as string;
  const rows: LabelRow[] = [];
  const bad: BadLabelRow[] = [];
  const seen = new Map<string, LabelRow>();
  const conflicted = new Set<string>();
  for (const record of records.slice(1)) {
    if (record.fields.length !== header.length) {
      bad.push({ line: record.line, reason: `has ${record.fields.length} fields; the header has ${header.length}` });
      continue;
    }
    const rawKey = (record.fields[keyIndex] ?? '').trim();
    const raw = (record.fields[labelIndex] ?? '').trim();
    if (rawKey === '') {
      bad.push({ line: record.line, reason: `empty ${keyName}` });
      continue;
    }
    if (raw === '') {
      bad.push({ line: record.line, reason: `empty label in column ${labelName} for ${JSON.stringify(rawKey)}` });
      continue;
    }
    const label = classIndexOf(raw, options.classes);
    if (label === undefined) {
      bad.push({ line: record.line, reason: `label ${JSON.stringify(raw)} in column ${labelName} is not a known class (${describeClassWords(options.classes)})` });
      continue;
    }
    const fields: Record<string, string> = {};
    header.forEach((h, i) => (fields[h] = record.fields[i] ?? ''));
    const key = options.join === 'path' ? rawKey.replace(/\\/g, '/') : rawKey;
    const row: LabelRow = { line: record.line, key, label, labelName: labelNameOf(label, options.classes), fields };
    const previous = seen.get(key);
    if (previous !== undefined) {
      if (previous.label === label) bad.push({ line: record.line, reason: `repeats key ${JSON.stringify(rawKey)} of line ${previous.line}` });
      else {
        bad.push({ line: record.line, reason: `gives key ${JSON.stringify(rawKey)} label ${label}, but line ${previous.line} gave ${previous.label}` });
        conflicted.add(key);
      }
      continue;
    }
    seen.set(key, row);
    rows.push(row);
  }
  // A key whose lines disagree is dropped entirely: neither label can be trusted.
  const kept = rows.filter((r) => !conflicted.has(r.key));
  const classes = options.classes ?? ['no-fracture', 'fracture'];
  return { file, join: options.join, keyColumn: keyName, labelColumn: labelName, rows: kept, bad, classes };
}

/** The labels of the images a command runs on, by file: every row must be sound. */
export interface ImageLabels {
  readonly file: string;
  /** The label of an input image (its path as given to the command), or undefined when no row names it. */
  labelOf(image: string): number | undefined;
}

/**
 * Reads the labels of the images a command runs on (predict, attack, triage-calibrate): a path column (file, path,
 * image …) relative to the CSV's folder, and a label column holding a class name of `classes`, an index, or a word
 * of the class vocabulary. Unlike an import, which lists bad rows and goes on, any empty, unknown, repeated or
 * conflicting label is an error naming every such line (HF_DATA_LABELS); a missing file is HF_DATA_LABELS_MISSING.
 * An image matches the row whose path resolves to it, else the row naming the longest tail of its path.
 */
export async function readImageLabels(file: string, classes: readonly string[]): Promise<ImageLabels> {
  const table = parseLabelTable(await readLabelText(file), file, { join: 'path', classes });
  if (table.bad.length > 0) {
    const shown = table.bad.slice(0, 10).map((b) => `line ${b.line}: ${b.reason}`);
    const more = table.bad.length > 10 ? `; and ${table.bad.length - 10} more` : '';
    throw new DataError('HF_DATA_LABELS', `${table.bad.length} label row(s) cannot be used: ${shown.join('; ')}${more}.`, {
      input: file,
      fix: 'give each image exactly one row with a non-empty label.',
    });
  }
  if (table.rows.length === 0) throw new DataError('HF_DATA_LABELS', 'the label file has a header but no rows.', { input: file, fix: 'add one row per image: file,label.' });
  const folder = path.dirname(path.resolve(file));
  const byAbsolute = new Map(table.rows.map((r) => [path.resolve(folder, r.key), r.label]));
  const byTail = new Map(table.rows.map((r) => [path.normalize(r.key).split(path.sep).join('/'), r.label]));
  return {
    file,
    labelOf(image: string): number | undefined {
      const exact = byAbsolute.get(path.resolve(image));
      if (exact !== undefined) return exact;
      const parts = path.resolve(image).split(path.sep);
      for (let i = 1; i < parts.length; i++) {
        const hit = byTail.get(parts.slice(i).join('/'));
        if (hit !== undefined) return hit;
      }
      return undefined;
    },
  };
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

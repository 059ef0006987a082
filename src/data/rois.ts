// Region-of-interest and fracture-box tables given beside a set of radiographs: --rois (hip crops for a model trained
// on them) and --boxes (fracture boxes for localisation scores), each keyed by file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCsv } from './csv.js';
import { DataError } from './errors.js';
import { ROI_COLUMN_SETS, roiFromColumns } from './labels.js';

/** A box [x0, y0, x1, y1] in the image's own pixels (x1/y1 exclusive). */
export type PixelBox = readonly [number, number, number, number];

function readText(file: string, code: 'HF_DATA_BAD_ROIS' | 'HF_DATA_BAD_BOXES', option: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new DataError(code, `cannot read the file (${(cause as NodeJS.ErrnoException).code ?? String(cause)}).`, { input: file, fix: `check the ${option} path.`, cause });
  }
}

/**
 * Reads a CSV of regions of interest: a `file` column (a path, matched against the end of each input's path) and
 * hip_roi_x0…y1 or roi_x0…y1 in pixels. The phantom's labels.csv is such a file. Keys use '/' separators.
 */
export function readRoisCsv(csvFile: string): Map<string, PixelBox> {
  const [header, ...body] = parseCsv(readText(csvFile, 'HF_DATA_BAD_ROIS', '--rois'), csvFile);
  const names = (header?.fields ?? []).map((f) => f.trim().toLowerCase());
  const fileCol = names.indexOf('file');
  if (fileCol < 0 || !ROI_COLUMN_SETS.some((cols) => cols.every((c) => names.includes(c)))) {
    throw new DataError('HF_DATA_BAD_ROIS', 'the ROI file needs a "file" column and hip_roi_x0, hip_roi_y0, hip_roi_x1, hip_roi_y1 (pixels).', { input: csvFile, fix: 'e.g. the labels.csv hipfrac phantom writes.' });
  }
  const out = new Map<string, PixelBox>();
  for (const { fields, line } of body) {
    const file = fields[fileCol]?.trim() ?? '';
    if (file === '') continue;
    const box = roiFromColumns((c) => (names.includes(c) ? (fields[names.indexOf(c)] ?? '') : undefined));
    if (box === null || box === undefined) {
      throw new DataError('HF_DATA_BAD_ROIS', `line ${line}: the region of ${file} is empty or not a number.`, { input: csvFile, fix: 'give x0 < x1 and y0 < y1 in pixels.' });
    }
    out.set(file.split(path.sep).join('/'), box);
  }
  return out;
}

/** The phantom cohort's annotations.json: images[].file with fractures[].box ([x0, y0, x1, y1], x1/y1 exclusive). */
function readAnnotationBoxes(jsonFile: string): Map<string, PixelBox[]> {
  let doc: { images?: { file?: unknown; fractures?: { box?: unknown }[] }[] };
  try {
    doc = JSON.parse(readText(jsonFile, 'HF_DATA_BAD_BOXES', '--boxes')) as typeof doc;
  } catch (cause) {
    if (cause instanceof DataError) throw cause;
    throw new DataError('HF_DATA_BAD_BOXES', `the annotations file is not JSON (${(cause as Error).message}).`, { input: jsonFile, fix: 'pass the phantom cohort\'s annotations.json or a CSV "file,x0,y0,x1,y1".', cause });
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.images)) {
    throw new DataError('HF_DATA_BAD_BOXES', 'the annotations JSON has no "images" list.', { input: jsonFile, fix: 'pass the phantom cohort\'s annotations.json or a CSV "file,x0,y0,x1,y1".' });
  }
  const out = new Map<string, PixelBox[]>();
  for (const image of doc.images) {
    if (typeof image.file !== 'string') continue;
    const boxes = (image.fractures ?? []).map((f) => f.box).filter((b): b is PixelBox => Array.isArray(b) && b.length === 4 && b.every((v) => typeof v === 'number'));
    out.set(path.resolve(path.dirname(jsonFile), image.file), boxes);
  }
  return out;
}

/**
 * Fracture boxes by absolute image path: a CSV "file,x0,y0,x1,y1" (several rows per file allowed; paths relative to
 * the CSV) or the phantom cohort's annotations.json. Throws HF_DATA_BAD_BOXES naming the line at fault.
 */
export function readBoxes(file: string): Map<string, PixelBox[]> {
  if (file.toLowerCase().endsWith('.json')) return readAnnotationBoxes(file);
  const out = new Map<string, PixelBox[]>();
  const [header, ...rows] = parseCsv(readText(file, 'HF_DATA_BAD_BOXES', '--boxes'), file);
  if (header?.fields.map((f) => f.trim().toLowerCase()).join(',') !== 'file,x0,y0,x1,y1') {
    throw new DataError('HF_DATA_BAD_BOXES', 'the boxes CSV must start with the header "file,x0,y0,x1,y1".', { input: file, fix: 'one row per box, pixels of the original image.' });
  }
  for (const { fields, line } of rows) {
    const [name, ...coords] = fields.map((f) => f.trim());
    if (name === undefined || name === '') throw new DataError('HF_DATA_BAD_BOXES', `line ${line}: empty file name.`, { input: file, fix: 'name the image of each box.' });
    const box = coords.slice(0, 4).map(Number);
    if (coords.length < 4 || coords.slice(0, 4).some((c) => c === '') || box.some((v) => !Number.isFinite(v)) || (box[2] as number) <= (box[0] as number) || (box[3] as number) <= (box[1] as number)) {
      throw new DataError('HF_DATA_BAD_BOXES', `line ${line}: [${coords.join(', ')}] is not a box x0 < x1, y0 < y1.`, { input: file, fix: 'give four numbers in pixels of the original image.' });
    }
    const key = path.resolve(path.dirname(file), name);
    out.set(key, [...(out.get(key) ?? []), box as unknown as PixelBox]);
  }
  return out;
}

// The dataset manifest: one JSON line per imported image (content hash, pseudonymous keys, view, encoding,
// QC, label), appended as import goes so an interrupted run keeps every row it finished.
import { appendFile, open, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from './errors.js';
import { loadSplit } from './split.js';
import type { RegionOfInterest } from './imageIo.js';

export type View = 'AP' | 'lateral' | 'other' | 'unknown';
export type SplitName = 'train' | 'val' | 'test';
export type QcFlag = 'blurred' | 'low-contrast' | 'near-uniform' | 'tiny' | 'unknown-view';

export interface QcMetrics {
  /** Variance of the 3×3 Laplacian on the cached image scaled to 0..255 (low = blurred). */
  readonly laplacianVariance: number;
  /** 1st–99th percentile spread of the cached image in [0, 1]. */
  readonly contrast: number;
  /** Standard deviation of the cached image in [0, 1]. */
  readonly std: number;
}

export interface ManifestRow {
  /** Stable row id: hash of the source path (several files may share one content hash). */
  readonly id: string;
  /** SHA-256 of the decoded display pixels and their size: equal for the same image in any encoding. */
  readonly contentHash: string;
  /** Path relative to the import root. */
  readonly sourcePath: string;
  readonly sourceSize: number;
  readonly sourceMtimeMs: number;
  readonly format: 'dicom' | 'png' | 'jpeg';
  /** HMAC-SHA256 pseudonyms (salt kept outside the dataset). */
  readonly patientKey: string;
  readonly studyKey: string | null;
  /** Keyed hashes of SOP Instance UID and Accession Number, for joining labels again on later runs. */
  readonly sopKey: string | null;
  readonly accessionKey: string | null;
  readonly view: View;
  readonly viewSource: string;
  readonly laterality: 'L' | 'R' | 'B' | null;
  readonly bodyPart: string | null;
  /**
   * Orthopaedic hardware (plates, screws, nails) in the image, from FracAtlas's hardware column or a label file's
   * hardware column (1/0); absent when the data do not say. A nuisance label of the shortcut audit.
   */
  readonly hardware?: boolean;
  readonly manufacturer: string | null;
  readonly model: string | null;
  /** Row and column spacing in mm of the original image. */
  readonly pixelSpacing: readonly [number, number] | null;
  readonly bitsStored: number | null;
  readonly photometric: string | null;
  readonly transferSyntax: string | null;
  readonly width: number;
  readonly height: number;
  readonly cacheWidth: number;
  readonly cacheHeight: number;
  readonly cacheBitDepth: 8 | 16;
  readonly voiSource: string;
  /** Warning codes met while decoding (e.g. HF_DICOM_W_VOI_FALLBACK). */
  readonly warnings: readonly string[];
  readonly qc: readonly QcFlag[];
  readonly qcMetrics: QcMetrics;
  /** Class index (0 = no fracture, 1 = fracture for binary labels), null when unlabelled. */
  readonly label: number | null;
  readonly labelName: string | null;
  /**
   * Region of interest (e.g. the hip) as fractions of the image [x0, y0, x1, y1], from the label file's
   * hip_roi_x0…y1 or roi_x0…y1 columns (pixels of the source image); absent when the file has none.
   */
  readonly roi?: RegionOfInterest | null;
  /**
   * Fracture boxes as fractions of the image [x0, y0, x1, y1], from a label file's fracture_boxes column (pixels) or
   * FracAtlas's YOLO boxes; [] for an image without a box; absent when the data carry no boxes.
   */
  readonly boxes?: readonly RegionOfInterest[];
  /** Filled from split.json by loadManifest when a split exists. */
  readonly split?: SplitName;
  readonly fold?: number;
}

export const MANIFEST_FILE = 'manifest.jsonl';

export function manifestPath(datasetDir: string): string {
  return join(datasetDir, MANIFEST_FILE);
}

/**
 * Reads manifest rows; a half-written last line (an interrupted run) is ignored. Later rows win per id. Rows come
 * in id order (ids hash the source path), not in the order the import's workers happened to finish them: the same
 * data give the same rows in the same order, so splits, the loader's shuffle and the trained model do not depend
 * on which worker was faster.
 */
export async function readManifestRows(datasetDir: string): Promise<ManifestRow[]> {
  let text: string;
  try {
    text = await readFile(manifestPath(datasetDir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const byId = new Map<string, ManifestRow>();
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const row = JSON.parse(line) as ManifestRow;
      byId.set(row.id, row);
    } catch (cause) {
      // A torn line from an interrupted append (repaired by a newline, so possibly not last): skip it.
      if (!line.trimEnd().endsWith('}') || i >= lines.length - 2) return;
      throw new DataError('HF_DATA_MANIFEST_CORRUPT', `Manifest line ${i + 1} is not valid JSON.`, { input: manifestPath(datasetDir), fix: 'Delete the damaged line (or the manifest) and re-run `hipfrac import`; done images are kept in the cache.', cause });
    }
  });
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Ends the manifest with a newline if an interrupted run left half a line, so the next append starts a
 * fresh line instead of gluing onto the torn one (which readManifestRows then skips).
 */
export async function repairManifestTail(datasetDir: string): Promise<void> {
  let handle;
  try {
    handle = await open(manifestPath(datasetDir), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return;
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    if (last[0] !== 0x0a) await appendFile(manifestPath(datasetDir), '\n', 'utf8');
  } finally {
    await handle.close();
  }
}

/** Appends one row as a single write of one line. */
export async function appendManifestRow(datasetDir: string, row: ManifestRow): Promise<void> {
  await appendFile(manifestPath(datasetDir), `${JSON.stringify(row)}\n`, 'utf8');
}

/** Rewrites the whole manifest atomically (temp file + rename). */
export async function writeManifest(datasetDir: string, rows: readonly ManifestRow[]): Promise<void> {
  const path = manifestPath(datasetDir);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : ''), 'utf8');
  await rename(temp, path);
}

/** Writes any JSON file atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`, 'utf8');
  await rename(temp, path);
}

/** The manifest with each row's split (or fold) from split.json filled in when the dataset has been split. */
export async function loadManifest(datasetDir: string): Promise<ManifestRow[]> {
  const rows = await readManifestRows(datasetDir);
  const split = await loadSplit(datasetDir);
  if (split === undefined) return rows;
  return rows.map((row) => {
    const set = split.assignments[row.id];
    const fold = split.foldOf[row.id];
    return { ...row, ...(set === undefined ? {} : { split: set }), ...(fold === undefined ? {} : { fold }) };
  });
}

/**
 * Checks that `datasetDir` is a dataset `hipfrac import` wrote, before a command reads or writes anything in it:
 * HF_DATA_INPUT_MISSING for a path that is not a folder, HF_DATA_NO_MANIFEST for a folder without manifest.jsonl.
 */
export function requireDataset(datasetDir: string): void {
  if (!existsSync(datasetDir) || !statSync(datasetDir).isDirectory()) {
    throw new DataError('HF_DATA_INPUT_MISSING', 'the dataset folder does not exist (or is a file).', { input: datasetDir, fix: 'give the folder `hipfrac import --out` wrote.' });
  }
  if (!existsSync(manifestPath(datasetDir))) {
    throw new DataError('HF_DATA_NO_MANIFEST', 'the folder is not a dataset: it has no manifest.jsonl.', { input: datasetDir, fix: 'run `hipfrac import <images> --out <dataset>` first, and pass that --out folder.' });
  }
}

// Importers for DICOM trees, folder-per-class PNG/JPEG layouts and the FracAtlas layout: decode on worker
// threads, cache each image once, append manifest rows as they finish, and report every file's fate.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join, relative, resolve, sep, extname } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { DicomError, loadSalt, pseudonymKey, readDicomBytes, type DicomHeader } from '../dicom/index.js';
import { describeError } from '../util/index.js';
import { DataError } from './errors.js';
import { cacheFileName, CACHE_DIR, encodeGreyPng, fileExists, resizeGrey, writeFileAtomic, type GreyImage } from './cache.js';
import type { RegionOfInterest } from './imageIo.js';
import { boxesFromPixelText, boxesFromYolo, FRACTURE_BOXES_COLUMN } from './boxes.js';
import { classIndexOf, FRACTURE_CLASSES } from './classes.js';
import { parseCsv } from './csv.js';
import { LabelIndex, readLabelCsv, roiFromColumns, type LabelJoin, type LabelRow, type LabelTable } from './labels.js';
import { appendManifestRow, readManifestRows, repairManifestTail, writeJsonAtomic, writeManifest, type ManifestRow, type View } from './manifest.js';
import { DEFAULT_QC, qcFlags, qcMetrics, type QcThresholds } from './qc.js';

export type ImportLayout = 'dicom' | 'folders' | 'fracatlas';

export interface ImportOptions {
  readonly inputDir: string;
  readonly outDir: string;
  readonly layout?: ImportLayout;
  readonly labels?: { readonly file: string; readonly join: LabelJoin; readonly keyColumn?: string; readonly labelColumn?: string };
  /** Worker threads (default: all cores). */
  readonly workers?: number;
  readonly maxSide?: number;
  readonly bitDepth?: 8 | 16;
  readonly saltFile?: string;
  readonly qc?: QcThresholds;
  readonly onStart?: (total: number, alreadyDone: number) => void;
  readonly onFile?: (outcome: FileOutcome) => void;
}

export interface FileOutcome {
  readonly path: string;
  readonly status: 'imported' | 'skipped' | 'failed' | 'already-imported';
  readonly code?: string;
  readonly message?: string;
}

export interface ImportReport {
  readonly inputDir: string;
  readonly layout: ImportLayout;
  readonly finishedAt: string;
  readonly filesSeen: number;
  readonly imported: number;
  readonly alreadyImported: number;
  readonly skipped: Readonly<Record<string, number>>;
  readonly failed: Readonly<Record<string, number>>;
  /** Every file that did not import this run, with its reason. */
  readonly problems: readonly FileOutcome[];
  readonly duplicates: number;
  readonly labels: {
    readonly file: string | null;
    readonly join: LabelJoin | null;
    readonly labelled: number;
    readonly unlabelledImages: readonly string[];
    /** Label rows no image matched; the key is shown for path joins only (UIDs and accession numbers are identifiers). */
    readonly unmatchedLabelRows: readonly { line: number; key: string | null }[];
    readonly badRows: readonly { line: number; reason: string }[];
  };
}

interface Task {
  readonly absPath: string;
  readonly relPath: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly kind: 'dicom' | 'image';
  readonly view?: View;
  /** The body part the layout names (FracAtlas's hand/leg/hip/shoulder columns), when the file header has none. */
  readonly bodyPart?: string;
  /** A patient identifier from the layout (e.g. a patient column in FracAtlas's labels.csv). */
  readonly patientHint?: string;
}

interface WorkerConfig {
  readonly role: 'hipfrac-import-worker';
  readonly salt: string;
  readonly outDir: string;
  readonly maxSide: number;
  readonly bitDepth: 8 | 16;
  readonly qc: QcThresholds;
}

type WorkerReply =
  | { readonly ok: true; readonly row: Omit<ManifestRow, 'id' | 'label' | 'labelName'>; readonly sopInstanceUid: string | null; readonly accessionNumber: string | null }
  | { readonly ok: false; readonly skip: boolean; readonly code: string; readonly message: string };

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
const IGNORED_NAMES = new Set(['labels.csv', 'README.md', 'readme.md', '.DS_Store', 'Thumbs.db']);
/**
 * Files a DICOM tree may hold beside its images (a phantom cohort's annotations.json and contact-sheet.png, exported
 * reports, spreadsheets): reported as skipped side files, not as DICOM files that failed to decode.
 */
const SIDE_FILE_EXTENSIONS = new Set(['.json', '.jsonl', '.csv', '.tsv', '.txt', '.md', '.html', '.htm', '.pdf', '.xml', '.png', '.jpg', '.jpeg', '.gif', '.svg', '.zip', '.log']);

// ---------------------------------------------------------------- view and laterality from the header

export function viewFromHeader(header: Pick<DicomHeader, 'viewPosition' | 'imageLaterality' | 'seriesDescription' | 'protocolName'>): { view: View; source: string } {
  const vp = header.viewPosition?.toUpperCase().trim();
  if (vp !== undefined && vp !== '') {
    if (vp === 'AP' || vp === 'PA') return { view: 'AP', source: 'ViewPosition' };
    if (['LL', 'RL', 'LAT', 'LATERAL', 'XTABLE', 'LLD', 'RLD'].includes(vp)) return { view: 'lateral', source: 'ViewPosition' };
    return { view: 'other', source: 'ViewPosition' };
  }
  for (const [text, source] of [
    [header.seriesDescription, 'SeriesDescription'],
    [header.protocolName, 'ProtocolName'],
  ] as const) {
    const t = text?.toUpperCase();
    if (t === undefined) continue;
    // Whole words only (letters on neither side), so "LATERALITY" is not "LAT" and "A.P." still counts.
    if (/(?<![A-Z])(LAT|LATERAL|LAUENSTEIN|FROG|AXIAL|CROSS[ -]?TABLE|XTABLE)(?![A-Z])/.test(t)) return { view: 'lateral', source };
    if (/(?<![A-Z])(AP|PA|FRONTAL|A\.P\.)(?![A-Z])/.test(t)) return { view: 'AP', source };
    if (/(?<![A-Z])OBL(IQUE)?(?![A-Z])/.test(t)) return { view: 'other', source };
  }
  return { view: 'unknown', source: 'none' };
}

/** The image's side from (Image) Laterality, else from the series description or protocol name; null when unknown. */
export function lateralityFromHeader(header: Pick<DicomHeader, 'imageLaterality' | 'laterality' | 'seriesDescription' | 'protocolName'>): 'L' | 'R' | 'B' | null {
  for (const value of [header.imageLaterality, header.laterality]) {
    const v = value?.toUpperCase().trim();
    if (v === 'L' || v === 'R' || v === 'B') return v;
  }
  const text = `${header.seriesDescription ?? ''} ${header.protocolName ?? ''}`.toUpperCase();
  const left = /\b(LEFT|LT|LINKS)\b/.test(text);
  const right = /\b(RIGHT|RT|RECHTS)\b/.test(text);
  if (left && right) return 'B';
  if (left) return 'L';
  if (right) return 'R';
  return null;
}

// ---------------------------------------------------------------- worker side

function contentHashOf(image: GreyImage): string {
  const size = Buffer.alloc(8);
  size.writeUInt32LE(image.width, 0);
  size.writeUInt32LE(image.height, 4);
  return createHash('sha256').update(size).update(new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength)).digest('hex');
}

async function decodePlainImage(bytes: Buffer): Promise<GreyImage> {
  const { data, info } = await sharp(bytes).greyscale().raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const values = new Uint16Array(data.buffer, data.byteOffset, data.length >> 1).slice();
  // 8-bit sources come back as 0..255 in a ushort buffer on some paths: widen them to 0..65535.
  let max = 0;
  for (let i = 0; i < values.length; i++) if ((values[i] as number) > max) max = values[i] as number;
  if (max <= 255) for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) * 257;
  return { width: info.width, height: info.height, data: values };
}

async function processTask(task: Task, config: WorkerConfig): Promise<WorkerReply> {
  const salt = Buffer.from(config.salt, 'utf8');
  let bytes: Buffer;
  try {
    bytes = await readFile(task.absPath);
  } catch (error) {
    return { ok: false, skip: false, code: 'HF_DATA_READ_FAILED', message: `cannot read file (${(error as NodeJS.ErrnoException).code ?? describeError(error)})` };
  }
  let image: GreyImage;
  let header: DicomHeader | undefined;
  let warnings: string[] = [];
  let voiSource = 'none';
  let bitsStored: number | null = null;
  let photometric: string | null = null;
  let format: ManifestRow['format'];
  try {
    if (task.kind === 'dicom') {
      const dicom = await readDicomBytes(bytes, task.relPath);
      image = { width: dicom.width, height: dicom.height, data: dicom.display };
      header = dicom.header;
      warnings = dicom.issues.map((i) => i.code);
      voiSource = dicom.voi.source;
      bitsStored = dicom.pixel.bitsStored;
      photometric = dicom.pixel.photometricInterpretation;
      format = 'dicom';
    } else {
      if (bytes.length === 0) return { ok: false, skip: false, code: 'HF_DATA_EMPTY_FILE', message: 'the file is empty (0 bytes)' };
      image = await decodePlainImage(bytes);
      format = extname(task.absPath).toLowerCase() === '.png' ? 'png' : 'jpeg';
    }
  } catch (error) {
    if (error instanceof DicomError) return { ok: false, skip: error.isSkip, code: error.code, message: error.message };
    return { ok: false, skip: false, code: task.kind === 'dicom' ? 'HF_DICOM_DECODE_FAILED' : 'HF_DATA_IMAGE_DECODE_FAILED', message: `cannot decode image (${describeError(error)})` };
  }
  const contentHash = contentHashOf(image);
  const cached = await resizeGrey(image, config.maxSide);
  const metrics = qcMetrics(cached);
  const viewInfo = task.view !== undefined ? { view: task.view, source: 'layout' } : header !== undefined ? viewFromHeader(header) : { view: 'unknown' as View, source: 'none' };
  const flags = qcFlags(metrics, image.width, image.height, viewInfo.view, config.qc);
  const path = join(config.outDir, CACHE_DIR, cacheFileName(contentHash, config.bitDepth));
  if (!(await fileExists(path))) await writeFileAtomic(path, await encodeGreyPng(cached, config.bitDepth));
  // Without a Patient ID each file stands for its own patient (FracAtlas, folders); exact duplicates are
  // still kept together by the split through their content hash.
  const patientId = header?.patientId ?? task.patientHint;
  const patientKey = patientId !== undefined ? pseudonymKey(salt, 'patient', patientId) : pseudonymKey(salt, 'image', task.relPath);
  return {
    ok: true,
    sopInstanceUid: header?.sopInstanceUid ?? null,
    accessionNumber: header?.accessionNumber ?? null,
    row: {
      contentHash,
      sourcePath: task.relPath,
      sourceSize: task.size,
      sourceMtimeMs: task.mtimeMs,
      format,
      patientKey,
      studyKey: header?.studyInstanceUid !== undefined ? pseudonymKey(salt, 'study', header.studyInstanceUid) : null,
      sopKey: header?.sopInstanceUid !== undefined ? pseudonymKey(salt, 'sop', header.sopInstanceUid) : null,
      accessionKey: header?.accessionNumber !== undefined ? pseudonymKey(salt, 'accession', header.accessionNumber) : null,
      view: viewInfo.view,
      viewSource: viewInfo.source,
      laterality: header !== undefined ? lateralityFromHeader(header) : null,
      bodyPart: header?.bodyPartExamined ?? task.bodyPart ?? null,
      manufacturer: header?.manufacturer ?? null,
      model: header?.manufacturerModelName ?? null,
      pixelSpacing: header?.pixelSpacing ?? null,
      bitsStored,
      photometric,
      transferSyntax: header?.transferSyntaxUid ?? null,
      width: image.width,
      height: image.height,
      cacheWidth: cached.width,
      cacheHeight: cached.height,
      cacheBitDepth: config.bitDepth,
      voiSource,
      warnings,
      qc: flags,
      qcMetrics: metrics,
    },
  };
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'hipfrac-import-worker') {
  const config = workerData as WorkerConfig;
  // One libvips thread per worker: the workers already use every core.
  sharp.concurrency(1);
  parentPort?.on('message', (task: Task) => {
    processTask(task, config).then(
      (reply) => parentPort?.postMessage(reply),
      (error: unknown) => parentPort?.postMessage({ ok: false, skip: false, code: 'HF_DATA_WORKER_FAILED', message: describeError(error) } satisfies WorkerReply),
    );
  });
}

// ---------------------------------------------------------------- main side: finding files

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walk(path, out);
    else if (entry.isFile()) out.push(path);
  }
}

function posixRelative(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}


/** A label the layout itself gives (folder name, FracAtlas's labels.csv), with its fracture boxes where it has them. */
interface LayoutLabel {
  readonly label: number;
  readonly labelName: string;
  readonly boxes?: readonly RegionOfInterest[];
  /** Orthopaedic hardware in the image (FracAtlas's hardware column); absent when the layout does not say. */
  readonly hardware?: boolean;
}

interface Plan {
  readonly tasks: Task[];
  /** Files the layout names that do not exist (e.g. FracAtlas label rows without an image). */
  readonly missing?: string[];
  /** Labels the layout itself gives, by relative path. */
  readonly layoutLabels: Map<string, LayoutLabel>;
  /** Files the layout leaves out on purpose (side files beside DICOM images), by relative path. */
  readonly sideFiles?: string[];
  readonly labelTable?: LabelTable;
}

async function planFolders(root: string): Promise<Plan> {
  const classes = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (classes.length === 0) throw new DataError('HF_DATA_LAYOUT', 'The folder-per-class layout needs one sub-folder per class.', { input: root, fix: 'Arrange images as <dir>/<class>/<image>.png, or use --layout dicom.' });
  const known = classes.every((c) => classIndexOf(c, FRACTURE_CLASSES) !== undefined);
  const tasks: Task[] = [];
  const layoutLabels = new Map<string, { label: number; labelName: string }>();
  for (const [index, name] of classes.entries()) {
    const files: string[] = [];
    await walk(join(root, name), files);
    for (const file of files) {
      if (!IMAGE_EXTENSIONS.has(extname(file).toLowerCase())) continue;
      const info = await stat(file);
      const relPath = posixRelative(root, file);
      tasks.push({ absPath: file, relPath, size: info.size, mtimeMs: info.mtimeMs, kind: 'image' });
      layoutLabels.set(relPath, { label: known ? (classIndexOf(name, FRACTURE_CLASSES) as number) : index, labelName: name });
    }
  }
  return { tasks, layoutLabels };
}

async function planFracAtlas(root: string): Promise<Plan> {
  const csvPath = join(root, 'labels.csv');
  const records = parseCsv(await readFile(csvPath, 'utf8'), csvPath);
  const header = (records[0]?.fields ?? []).map((h) => h.trim().toLowerCase());
  const col = (name: string): number => header.indexOf(name);
  if (col('image_id') < 0 || col('fractured') < 0) throw new DataError('HF_DATA_LAYOUT', 'FracAtlas labels.csv needs image_id and fractured columns.', { input: csvPath, fix: 'Use the dataset as distributed, or --layout folders.' });
  const tasks: Task[] = [];
  const missing: string[] = [];
  const layoutLabels = new Map<string, LayoutLabel>();
  for (const record of records.slice(1)) {
    const get = (name: string): string => (col(name) >= 0 ? (record.fields[col(name)] ?? '').trim() : '');
    const id = get('image_id');
    if (id === '') continue;
    const absPath = join(root, 'images', id);
    let info;
    try {
      info = await stat(absPath);
    } catch {
      missing.push(`images/${id}`);
      continue;
    }
    const relPath = `images/${id}`;
    // FracAtlas marks views with 0/1 columns; frontal is the AP/PA projection.
    const view: View = get('frontal') === '1' ? 'AP' : get('lateral') === '1' ? 'lateral' : get('oblique') === '1' ? 'other' : 'unknown';
    const patient = get('patient_id') || get('patient');
    // FracAtlas marks body parts with 0/1 columns too; several at once (or its 'mixed' column) is 'mixed'.
    const parts = ['hand', 'leg', 'hip', 'shoulder'].filter((part) => get(part) === '1');
    const bodyPart = get('mixed') === '1' || parts.length > 1 ? 'mixed' : parts[0];
    tasks.push({ absPath, relPath, size: info.size, mtimeMs: info.mtimeMs, kind: 'image', view, ...(patient === '' ? {} : { patientHint: patient }), ...(bodyPart === undefined ? {} : { bodyPart }) });
    const fractured = get('fractured') === '1';
    // FracAtlas's fracture boxes (YOLO lines, normalised, so they hold at the cache's scale too); no column: no boxes.
    const boxes = col('yolo_boxes') >= 0 ? boxesFromYolo(get('yolo_boxes')) : undefined;
    const hardware = hardwareFromCell(get('hardware'));
    layoutLabels.set(relPath, { label: fractured ? 1 : 0, labelName: fractured ? 'fracture' : 'no-fracture', ...(boxes === undefined ? {} : { boxes }), ...(hardware === undefined ? {} : { hardware }) });
  }
  return { tasks, layoutLabels, missing };
}

async function planDicom(root: string): Promise<Plan> {
  const files: string[] = [];
  await walk(root, files);
  const tasks: Task[] = [];
  const sideFiles: string[] = [];
  for (const file of files) {
    if (IGNORED_NAMES.has(basename(file))) continue;
    if (SIDE_FILE_EXTENSIONS.has(extname(file).toLowerCase())) {
      sideFiles.push(posixRelative(root, file));
      continue;
    }
    const info = await stat(file);
    tasks.push({ absPath: file, relPath: posixRelative(root, file), size: info.size, mtimeMs: info.mtimeMs, kind: 'dicom' });
  }
  return { tasks, layoutLabels: new Map(), sideFiles };
}

// ---------------------------------------------------------------- main side: the pool and the run

class WorkerPool {
  private readonly workers = new Set<Worker>();
  private readonly idle: Worker[] = [];
  private readonly waiting: { task: Task; resolve: (reply: WorkerReply) => void }[] = [];
  private readonly pending = new Map<Worker, (reply: WorkerReply) => void>();
  private closing = false;

  constructor(
    size: number,
    private readonly config: WorkerConfig,
  ) {
    for (let i = 0; i < size; i++) this.idle.push(this.spawn());
  }

  private spawn(): Worker {
    const worker = new Worker(new URL(import.meta.url), { workerData: this.config });
    worker.on('message', (reply: WorkerReply) => {
      const resolve = this.pending.get(worker);
      this.pending.delete(worker);
      resolve?.(reply);
      this.next(worker);
    });
    // A worker that dies (a codec abort, out of memory) fails only its own file; a fresh one takes its place.
    worker.on('error', (error) => this.replace(worker, describeError(error)));
    worker.on('exit', (code) => {
      if (!this.closing && this.workers.has(worker)) this.replace(worker, `worker exited with code ${code}`);
    });
    this.workers.add(worker);
    return worker;
  }

  private replace(worker: Worker, message: string): void {
    if (!this.workers.delete(worker)) return;
    const resolve = this.pending.get(worker);
    this.pending.delete(worker);
    resolve?.({ ok: false, skip: false, code: 'HF_DATA_WORKER_FAILED', message });
    void worker.terminate();
    if (!this.closing) this.next(this.spawn());
  }

  run(task: Task): Promise<WorkerReply> {
    return new Promise((resolve) => {
      const worker = this.idle.pop();
      if (worker === undefined) this.waiting.push({ task, resolve });
      else this.dispatch(worker, task, resolve);
    });
  }

  private dispatch(worker: Worker, task: Task, resolve: (reply: WorkerReply) => void): void {
    this.pending.set(worker, resolve);
    worker.postMessage(task);
  }

  private next(worker: Worker): void {
    const job = this.waiting.shift();
    if (job === undefined) this.idle.push(worker);
    else this.dispatch(worker, job.task, job.resolve);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.workers].map((w) => w.terminate()));
  }
}

function rowId(relPath: string): string {
  return createHash('sha256').update(relPath).digest('hex').slice(0, 16);
}

function count(into: Record<string, number>, key: string): void {
  into[key] = (into[key] ?? 0) + 1;
}

/** Imports a folder into a dataset directory; safe to re-run (done files are skipped, failures retried). */
export async function importDataset(options: ImportOptions): Promise<ImportReport> {
  const inputDir = resolve(options.inputDir);
  const outDir = resolve(options.outDir);
  const layout = options.layout ?? 'dicom';
  // Everything that can be wrong with the input is found before the dataset folder is created.
  const inputInfo = await stat(inputDir).catch(() => undefined);
  if (inputInfo === undefined) throw new DataError('HF_DATA_INPUT_MISSING', 'the folder to import does not exist.', { input: inputDir, fix: 'give the folder that holds the DICOM files (or class folders, or FracAtlas).' });
  if (!inputInfo.isDirectory()) throw new DataError('HF_DATA_INPUT_MISSING', 'import takes a folder, not a file.', { input: inputDir, fix: 'give the folder that holds the file.' });
  const labelTable = options.labels === undefined ? undefined : await readLabelCsv(options.labels.file, { join: options.labels.join, ...(options.labels.keyColumn === undefined ? {} : { keyColumn: options.labels.keyColumn }), ...(options.labels.labelColumn === undefined ? {} : { labelColumn: options.labels.labelColumn }) });
  const plan = layout === 'folders' ? await planFolders(inputDir) : layout === 'fracatlas' ? await planFracAtlas(inputDir) : await planDicom(inputDir);
  if (plan.tasks.length === 0 && (plan.missing ?? []).length === 0 && !(await fileExists(join(outDir, 'manifest.jsonl')))) {
    throw new DataError('HF_DATA_EMPTY', `the folder holds no files to import${(plan.sideFiles ?? []).length > 0 ? ` (only ${(plan.sideFiles ?? []).length} side file(s) such as ${(plan.sideFiles ?? [])[0]})` : ''}.`, {
      input: inputDir,
      fix: layout === 'dicom' ? 'point at the folder with the DICOM files (a phantom cohort keeps them in images/), or pick --layout folders|fracatlas.' : 'check the folder and --layout.',
    });
  }
  const salt = await loadSalt({ ...(options.saltFile === undefined ? {} : { saltFile: options.saltFile }), forbiddenDirs: [outDir, inputDir] });
  await mkdir(join(outDir, CACHE_DIR), { recursive: true });
  const labelIndex = labelTable === undefined ? undefined : new LabelIndex(labelTable);
  const hashedLabels = new Map<string, LabelRow>();
  if (labelTable !== undefined && labelTable.join !== 'path') for (const row of labelTable.rows) hashedLabels.set(pseudonymKey(salt, labelTable.join, row.key), row);

  await repairManifestTail(outDir);
  const existing = await readManifestRows(outDir);
  const done = new Map(existing.map((r) => [r.sourcePath, r]));
  // Content hash → the row ids holding it: a file re-imported (touched, same bytes) replaces its own row
  // (readers keep the last row per id) and is no duplicate of itself.
  const byHash = new Map<string, Set<string>>();
  for (const r of existing) byHash.set(r.contentHash, (byHash.get(r.contentHash) ?? new Set()).add(r.id));
  const todo: Task[] = [];
  const outcomes: FileOutcome[] = [];
  let alreadyImported = 0;
  const seenRows: ManifestRow[] = [];
  let relabelled = false;
  const labelFor = (relPath: string, sopInstanceUid: string | null, accession: string | null, sopKey: string | null, accessionKey: string | null, size: { width: number; height: number }): LabelFields => {
    const fromLayout = plan.layoutLabels.get(relPath);
    if (labelIndex !== undefined && labelTable !== undefined) {
      let row: LabelRow | undefined;
      if (labelTable.join === 'path') row = labelIndex.lookup(relPath);
      else if (labelTable.join === 'sop') row = sopInstanceUid !== null ? labelIndex.lookup(sopInstanceUid) : sopKey !== null ? hashedLabels.get(sopKey) : undefined;
      else row = accession !== null ? labelIndex.lookup(accession) : accessionKey !== null ? hashedLabels.get(accessionKey) : undefined;
      if (row !== undefined) {
        if (sopInstanceUid === null && accession === null) labelIndex.lookup(row.key); // mark as used
        const roi = roiFromFields(row.fields, size);
        const boxes = boxesFromFields(row.fields, size);
        const hardware = hardwareFromFields(row.fields);
        return { label: row.label, labelName: row.labelName, ...(roi === undefined ? {} : { roi }), ...(boxes === undefined ? {} : { boxes }), ...(hardware === undefined ? {} : { hardware }) };
      }
      return fromLayout ?? { label: null, labelName: null };
    }
    return fromLayout ?? { label: null, labelName: null };
  };

  for (const task of plan.tasks) {
    const previous = done.get(task.relPath);
    if (previous !== undefined && previous.sourceSize === task.size && previous.sourceMtimeMs === task.mtimeMs && (await fileExists(join(outDir, CACHE_DIR, cacheFileName(previous.contentHash, previous.cacheBitDepth))))) {
      alreadyImported++;
      const { label, labelName, roi, boxes, hardware } = labelFor(task.relPath, null, null, previous.sopKey, previous.accessionKey, previous);
      if (label !== previous.label || labelName !== previous.labelName || JSON.stringify(roi ?? null) !== JSON.stringify(previous.roi ?? null) || JSON.stringify(boxes ?? null) !== JSON.stringify(previous.boxes ?? null) || hardware !== previous.hardware) relabelled = true;
      const { boxes: _oldBoxes, hardware: _oldHardware, ...kept } = previous;
      seenRows.push({ ...kept, label, labelName, ...(roi === undefined ? {} : { roi }), ...(boxes === undefined ? {} : { boxes }), ...(hardware === undefined ? {} : { hardware }) });
      continue;
    }
    todo.push(task);
  }
  options.onStart?.(plan.tasks.length, alreadyImported);

  const skipped: Record<string, number> = {};
  const failed: Record<string, number> = {};
  for (const path of plan.sideFiles ?? []) {
    count(skipped, 'HF_DATA_SIDE_FILE');
    outcomes.push({ path, status: 'skipped', code: 'HF_DATA_SIDE_FILE', message: 'not a DICOM image (a side file such as annotations or a contact sheet): left out' });
  }
  for (const path of plan.missing ?? []) {
    count(failed, 'HF_DATA_MISSING_FILE');
    outcomes.push({ path, status: 'failed', code: 'HF_DATA_MISSING_FILE', message: 'named in labels.csv but not found; restore the file or remove its row' });
  }
  let imported = 0;
  let duplicates = 0;
  const workers = Math.max(1, Math.min(options.workers ?? availableParallelism(), todo.length));
  const config: WorkerConfig = { role: 'hipfrac-import-worker', salt: salt.toString('utf8'), outDir, maxSide: options.maxSide ?? 512, bitDepth: options.bitDepth ?? 16, qc: options.qc ?? DEFAULT_QC };
  const pool = todo.length > 0 ? new WorkerPool(workers, config) : undefined;
  // Rows are appended one by one in completion order; appends are serialised through this chain.
  let writing: Promise<void> = Promise.resolve();
  try {
    await Promise.all(
      todo.map(async (task) => {
        const reply = await (pool as WorkerPool).run(task);
        let outcome: FileOutcome;
        if (reply.ok) {
          const { label, labelName, roi, boxes, hardware } = labelFor(task.relPath, reply.sopInstanceUid, reply.accessionNumber, reply.row.sopKey, reply.row.accessionKey, reply.row);
          const row: ManifestRow = { id: rowId(task.relPath), ...reply.row, label, labelName, ...(roi === undefined ? {} : { roi }), ...(boxes === undefined ? {} : { boxes }), ...(hardware === undefined ? {} : { hardware }) };
          const holders = byHash.get(row.contentHash) ?? new Set<string>();
          if ([...holders].some((id) => id !== row.id)) duplicates++;
          byHash.set(row.contentHash, holders.add(row.id));
          seenRows.push(row);
          writing = writing.then(() => appendManifestRow(outDir, row));
          await writing;
          imported++;
          outcome = { path: task.relPath, status: 'imported' };
        } else {
          count(reply.skip ? skipped : failed, reply.code);
          outcome = { path: task.relPath, status: reply.skip ? 'skipped' : 'failed', code: reply.code, message: reply.message };
          outcomes.push(outcome);
        }
        options.onFile?.(outcome);
      }),
    );
  } finally {
    await pool?.close();
  }
  if (relabelled) {
    // Labels of earlier rows changed (a corrected CSV): rewrite the manifest once, atomically.
    const current = await readManifestRows(outDir);
    const updated = new Map(seenRows.map((r) => [r.id, r]));
    await writeManifest(outDir, current.map((r) => updated.get(r.id) ?? r));
  }
  const unlabelledImages = labelTable === undefined && plan.layoutLabels.size === 0 ? [] : seenRows.filter((r) => r.label === null).map((r) => r.sourcePath).sort();
  const report: ImportReport = {
    inputDir,
    layout,
    finishedAt: new Date().toISOString(),
    filesSeen: plan.tasks.length,
    imported,
    alreadyImported,
    skipped,
    failed,
    problems: outcomes.sort((a, b) => (a.path < b.path ? -1 : 1)),
    duplicates,
    labels: {
      file: labelTable?.file ?? null,
      join: labelTable?.join ?? null,
      labelled: seenRows.filter((r) => r.label !== null).length,
      unlabelledImages,
      unmatchedLabelRows: labelIndex?.unmatched().map((r) => ({ line: r.line, key: labelTable?.join === 'path' ? r.key : null })) ?? [],
      badRows: labelTable?.bad ?? [],
    },
  };
  await writeJsonAtomic(join(outDir, 'import-report.json'), report);
  return report;
}

/**
 * The region of interest a label row gives in source pixels, as fractions of the image; undefined when the file
 * has no ROI columns, null when this row leaves them empty or gives an empty box.
 */
/** What a label row or layout says of one image beside its class. */
interface LabelFields {
  readonly label: number | null;
  readonly labelName: string | null;
  readonly roi?: RegionOfInterest | null;
  readonly boxes?: readonly RegionOfInterest[];
  readonly hardware?: boolean;
}

/** A hardware cell: 1/true/yes present, 0/false/no absent, empty or anything else unknown (undefined). */
function hardwareFromCell(cell: string | undefined): boolean | undefined {
  const v = (cell ?? '').trim().toLowerCase();
  return ['1', 'true', 'yes'].includes(v) ? true : ['0', 'false', 'no'].includes(v) ? false : undefined;
}

/** A label row's `hardware` column (orthopaedic hardware in the image); undefined without the column or a value. */
function hardwareFromFields(fields: Readonly<Record<string, string>>): boolean | undefined {
  const key = Object.keys(fields).find((k) => k.trim().toLowerCase() === 'hardware');
  return key === undefined ? undefined : hardwareFromCell(fields[key]);
}

function roiFromFields(fields: Readonly<Record<string, string>>, size: { width: number; height: number }): RegionOfInterest | null | undefined {
  const lower = new Map(Object.entries(fields).map(([k, v]) => [k.trim().toLowerCase(), v] as const));
  const box = roiFromColumns((c) => lower.get(c));
  if (box === undefined || box === null) return box;
  const r = (v: number): number => Math.round(v * 1e5) / 1e5;
  return [r(box[0] / size.width), r(box[1] / size.height), r(box[2] / size.width), r(box[3] / size.height)];
}

/**
 * The fracture boxes a label row gives in its fracture_boxes column (source pixels), as fractions of the image;
 * undefined when the file has no such column, [] when this row's cell is empty (no fracture box).
 */
function boxesFromFields(fields: Readonly<Record<string, string>>, size: { width: number; height: number }): RegionOfInterest[] | undefined {
  const cell = Object.entries(fields).find(([k]) => k.trim().toLowerCase() === FRACTURE_BOXES_COLUMN);
  return cell === undefined ? undefined : boxesFromPixelText(cell[1], size);
}

// generateCohort: plans a synthetic cohort, renders and encodes its images over worker threads, and writes the
// DICOM files, labels.csv and annotations.json. Output bytes depend only on the options, never on worker count.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { patientId } from './dicomHeaders.js';
import { type EncodedImage, encodeImage } from './encodeImage.js';
import { type CohortOptions, type PlannedImage, type PlannedPatient, DEFAULT_PREVALENCE, DEFAULT_SIZE, planCohort } from './plan.js';
import type { FractureTruth } from './types.js';
import { hipRoi } from './roi.js';
import { markerTruth } from './render.js';
import { PhantomError } from './errors.js';

export interface GenerateOptions extends CohortOptions {
  /** Output folder; created if missing. */
  readonly out: string;
  /** Worker threads (default 2); 0 renders on the calling thread. */
  readonly workers?: number;
  /** How many images (from the start of the cohort) to return as 8-bit previews for a contact sheet. */
  readonly previews?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface CohortImageRecord {
  readonly file: string;
  readonly sopInstanceUid: string;
  readonly patientId: string;
  readonly planned: PlannedImage;
  readonly photometric: 'MONOCHROME1' | 'MONOCHROME2';
  readonly fractures: readonly FractureTruth[];
  /** The hip region of interest in pixels (roi.ts), written to both labels.csv and annotations.json. */
  readonly hipRoi: readonly [number, number, number, number];
}

export interface CohortPreview {
  readonly index: number;
  readonly size: number;
  readonly pixels: Uint8Array;
  readonly label: 0 | 1;
  readonly boxes: readonly (readonly [number, number, number, number])[];
  readonly caption: string;
}

export interface CohortResult {
  readonly out: string;
  readonly patients: readonly PlannedPatient[];
  readonly images: readonly CohortImageRecord[];
  readonly previews: readonly CohortPreview[];
  readonly labelsCsv: string;
  readonly annotationsJson: string;
}

/** Where an image is written, relative to the cohort folder. */
export function imageFileName(image: PlannedImage): string {
  return `images/P${String(image.patientIndex + 1).padStart(5, '0')}/IMG${String(image.index + 1).padStart(6, '0')}.dcm`;
}

export interface WorkerTask {
  readonly seed: number;
  readonly image: PlannedImage;
  readonly out: string;
  readonly preview: boolean;
}

export type WorkerReply = { readonly ok: true; readonly result: Omit<EncodedImage, 'bytes'> } | { readonly ok: false; readonly index: number; readonly message: string };

/** Renders, encodes and writes one image; returns everything but the bytes. Used by workers and inline. */
export function processTask(task: WorkerTask): Omit<EncodedImage, 'bytes'> {
  const encoded = encodeImage(task.seed, task.image, task.preview);
  const path = join(task.out, imageFileName(task.image));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encoded.bytes);
  const { bytes: _bytes, ...rest } = encoded;
  return rest;
}

async function runPool(tasks: readonly WorkerTask[], workers: number, onDone: (r: Omit<EncodedImage, 'bytes'>) => void): Promise<void> {
  if (workers <= 0) {
    for (const t of tasks) onDone(processTask(t));
    return;
  }
  const url = new URL('./worker.js', import.meta.url);
  let next = 0;
  let failure: Error | null = null;
  const runOne = (worker: Worker): Promise<void> =>
    new Promise((resolve, reject) => {
      const feed = (): void => {
        if (failure !== null || next >= tasks.length) {
          resolve();
          return;
        }
        worker.postMessage(tasks[next++]);
      };
      worker.on('message', (reply: WorkerReply) => {
        if (reply.ok) {
          onDone(reply.result);
          feed();
        } else {
          failure = new PhantomError('HF_PHANTOM_RENDER_FAILED', `Rendering image ${reply.index + 1} failed: ${reply.message}`, { input: `image ${reply.index + 1}`, fix: 'Report the seed and options; rerun with --workers 0 to see the stack.' });
          reject(failure);
        }
      });
      worker.on('error', (e) => reject(e));
      feed();
    });
  const pool = Array.from({ length: Math.min(workers, tasks.length) }, () => new Worker(url));
  try {
    await Promise.all(pool.map(runOne));
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

const csvField = (v: string | number): string => {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * How a cohort's label file joins its DICOM files, as importDataset's `labels` option: by SOP Instance UID,
 * label in `label`. `file` defaults to the cohort's own labels.csv (pass another for an edited copy).
 */
export function cohortLabelSpec(cohortDir: string, file = join(cohortDir, 'labels.csv')): { file: string; join: 'sop'; keyColumn: string; labelColumn: string } {
  return { file, join: 'sop', keyColumn: 'sop_instance_uid', labelColumn: 'label' };
}

export const LABELS_COLUMNS = [
  'file',
  'sop_instance_uid',
  'patient_id',
  'label',
  'true_label',
  'view',
  'lateral_style',
  'laterality',
  'implant',
  'contralateral_implant',
  'fracture_type',
  'displaced',
  'difficulty',
  'modality',
  'transfer_syntax',
  'photometric',
  'bits_stored',
  'rows',
  'columns',
  'pixel_spacing_mm',
  // The hip region of interest in pixels (see roi.ts): placed from the anatomy, the same way in both classes.
  'hip_roi_x0',
  'hip_roi_y0',
  'hip_roi_x1',
  'hip_roi_y1',
  // The fracture's box(es) in pixels, "x0 y0 x1 y1" (x1/y1 exclusive) separated by ';'; empty for an intact hip.
  'fracture_boxes',
] as const;

function labelsCsv(records: readonly CohortImageRecord[], difficulty: string): string {
  const lines = [LABELS_COLUMNS.join(',')];
  for (const r of records) {
    const { spec } = r.planned;
    const index = spec.implants.find((i) => i.side === spec.view.side);
    const other = spec.implants.find((i) => i.side !== spec.view.side);
    const fracture = r.fractures[0];
    lines.push(
      [
        r.file,
        r.sopInstanceUid,
        r.patientId,
        r.planned.recordedLabel,
        spec.fractureApplied ? 1 : 0,
        spec.view.kind,
        spec.view.kind === 'LATERAL_HIP' ? spec.view.lateralStyle : '',
        spec.view.side,
        index?.kind ?? 'none',
        other?.kind ?? 'none',
        fracture?.type ?? '',
        fracture === undefined ? '' : fracture.displaced ? 1 : 0,
        difficulty,
        r.planned.modality,
        r.planned.transferSyntax,
        r.photometric,
        spec.detector.bitsStored,
        spec.size,
        spec.size,
        round3(spec.view.fieldMm / spec.size),
        ...r.hipRoi,
        r.fractures.map((f) => f.box.join(' ')).join(';'),
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

function annotationsJson(records: readonly CohortImageRecord[], options: GenerateOptions): string {
  const doc = {
    generator: 'hipfrac phantom',
    synthetic: true,
    notice: 'Synthetic radiographs generated by a digital phantom. Not clinical data; no real patient.',
    seed: options.seed,
    difficulty: options.difficulty,
    prevalence: options.prevalence ?? DEFAULT_PREVALENCE,
    label_noise: options.labelNoise ?? 0,
    size: options.size ?? DEFAULT_SIZE,
    box_format: 'xyxy pixels, x1/y1 exclusive',
    mask_format: 'row-major run lengths alternating 0 and 1, starting with 0',
    images: records.map((r) => ({
      file: r.file,
      sop_instance_uid: r.sopInstanceUid,
      patient_id: r.patientId,
      label: r.planned.spec.fractureApplied ? 1 : 0,
      recorded_label: r.planned.recordedLabel,
      view: r.planned.spec.view.kind,
      laterality: r.planned.spec.view.side,
      width: r.planned.spec.size,
      height: r.planned.spec.size,
      hip_roi: r.hipRoi,
      // Burned-in markers (what a shortcut audit's marker detector is checked against), xyxy pixels.
      markers: markerTruth(r.planned.spec),
      fractures: r.fractures.map((f) => ({
        type: f.type,
        side: f.side,
        displaced: f.displaced,
        displacement: {
          angulation_deg: round3(f.displacement.angulationDeg),
          shortening_mm: round3(f.displacement.shorteningMm),
          translation_mm: round3(f.displacement.translationMm),
          gap_mm: round3(f.displacement.gapMm),
        },
        box: f.box,
        mask: { size: f.mask.size, counts: f.mask.counts },
        mask_area: f.maskArea,
        line: f.line.map(([x, y]) => [round3(x), round3(y)]),
      })),
    })),
  };
  return `${JSON.stringify(doc)}\n`;
}

/** Generates the cohort on disk and returns what it wrote. */
export async function generateCohort(options: GenerateOptions): Promise<CohortResult> {
  const patients = planCohort(options);
  const images = patients.flatMap((p) => p.images);
  const previews = options.previews ?? 0;
  mkdirSync(options.out, { recursive: true });
  const tasks: WorkerTask[] = images.map((image) => ({ seed: options.seed, image, out: options.out, preview: image.index < previews }));
  const results = new Map<number, Omit<EncodedImage, 'bytes'>>();
  await runPool(tasks, options.workers ?? 2, (r) => {
    results.set(r.index, r);
    options.onProgress?.(results.size, tasks.length);
  });
  const records: CohortImageRecord[] = images.map((image) => {
    const r = results.get(image.index);
    if (r === undefined) throw new PhantomError('HF_PHANTOM_RENDER_FAILED', `Image ${image.index + 1} was not rendered`, { input: `image ${image.index + 1}` });
    return { file: imageFileName(image), sopInstanceUid: r.sopInstanceUid, patientId: patientId(options.seed, image.patientIndex), planned: image, photometric: r.photometric, fractures: r.fractures, hipRoi: hipRoi(image.spec) };
  });
  const csv = labelsCsv(records, options.difficulty);
  const json = annotationsJson(records, options);
  writeFileSync(join(options.out, 'labels.csv'), csv);
  writeFileSync(join(options.out, 'annotations.json'), json);
  const previewList: CohortPreview[] = [];
  for (const image of images) {
    const r = results.get(image.index);
    if (r?.preview === null || r === undefined) continue;
    const v = image.spec.view;
    previewList.push({
      index: image.index,
      size: image.spec.size,
      pixels: r.preview,
      label: image.spec.fractureApplied ? 1 : 0,
      boxes: r.fractures.map((f) => f.box),
      caption: `${v.kind === 'LATERAL_HIP' ? `LAT ${v.lateralStyle}` : v.kind.replace('_', ' ')} ${v.side} ${r.fractures[0]?.type ?? 'no fracture'}`,
    });
  }
  return { out: options.out, patients, images: records, previews: previewList, labelsCsv: csv, annotationsJson: json };
}

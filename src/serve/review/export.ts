// `hipfrac feedback export`: the reviewed cases as a dataset `hipfrac import` reads — images/<key>_<n>.dcm (the
// stored DICOM, de-identified by PS3.15 with the import salt unless identifiers are asked for) and labels.csv keyed
// by path, with the readers' consensus label, the box drawn (in source pixels, the importer's hip_roi columns)
// and the model's result beside it. Cases without a consensus (not assessable, readers disagree) are listed in
// feedback-report.json, not labelled.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deidentifyDicom, loadSalt, readDicomBytes } from '../../dicom/index.js';
import type { BlobStore, SqliteStore } from '../store/index.js';
import { consensusLabel } from './agreement.js';
import { ReviewError } from './errors.js';
import { ReviewRepository } from './repository.js';
import type { VerdictRecord } from './types.js';

export interface FeedbackExportOptions {
  readonly store: SqliteStore;
  readonly blobs: BlobStore;
  readonly outDir: string;
  /** Secret for the de-identification pseudonyms (default: the import salt, $HIPFRAC_SALT_FILE or ~/.config/hipfrac/salt). */
  readonly saltFile?: string;
  /** Copy the stored DICOM unchanged (patient identifiers included). Default false. */
  readonly keepIdentifiers?: boolean;
  /** Add the readers' free-text comments (they may name patients). Default false. */
  readonly withComments?: boolean;
}

export interface FeedbackExportReport {
  readonly outDir: string;
  readonly exportedAt: string;
  readonly studies: number;
  readonly images: number;
  readonly labelled: { readonly fracture: number; readonly noFracture: number };
  readonly left: readonly { readonly studyKey: string; readonly why: string }[];
  readonly deidentified: boolean;
}

export const LABEL_COLUMNS = ['path', 'label', 'verdict', 'readers', 'study_key', 'image_index', 'hip_roi_x0', 'hip_roi_y0', 'hip_roi_x1', 'hip_roi_y1', 'point_x', 'point_y', 'model_probability', 'model_decision', 'audit_sample'] as const;

function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

const round = (v: number): string => String(Math.round(v * 100) / 100);

export async function exportFeedback(options: FeedbackExportOptions): Promise<FeedbackExportReport> {
  const { store, blobs, outDir } = options;
  const repo = new ReviewRepository(store);
  const deidentify = options.keepIdentifiers !== true;
  const salt = deidentify ? await loadSalt({ ...(options.saltFile === undefined ? {} : { saltFile: options.saltFile }), forbiddenDirs: [outDir] }) : undefined;
  await mkdir(path.join(outDir, 'images'), { recursive: true });
  const header = [...LABEL_COLUMNS, ...(options.withComments === true ? ['comment'] : [])];
  const lines = [header.join(',')];
  const left: { studyKey: string; why: string }[] = [];
  let studies = 0;
  let images = 0;
  let fracture = 0;
  let noFracture = 0;
  for (const { case: c, verdicts } of repo.reviewedCases()) {
    const reference = consensusLabel(verdicts);
    if (reference.label === null) {
      left.push({ studyKey: c.studyKey, why: reference.why });
      continue;
    }
    studies++;
    if (reference.label === 1) fracture++;
    else noFracture++;
    const agreeing = verdicts.filter((v) => v.verdict === (reference.label === 1 ? 'fracture' : 'no-fracture'));
    const instances = store.instancesOfStudy(c.studyInstanceUid).filter((i) => i.status === 'stored');
    for (const [index, instance] of instances.entries()) {
      const raw = await blobs.read(instance.file);
      let bytes: Uint8Array = raw;
      try {
        if (salt !== undefined) bytes = deidentifyDicom(raw, instance.file, { salt });
      } catch (cause) {
        throw new ReviewError('HF_REVIEW_EXPORT', `image ${index} of ${c.studyKey} cannot be de-identified: ${(cause as Error).message}`, { input: c.studyKey, fix: 'nothing was labelled for it; check the stored file, or export with --keep-identifiers.', cause });
      }
      const name = `${c.studyKey}_${index}.dcm`;
      await writeFile(path.join(outDir, 'images', name), bytes);
      images++;
      const marked: VerdictRecord | undefined = agreeing.find((v) => v.sopInstanceUid === instance.sopInstanceUid && v.box !== null);
      let roi = ['', '', '', ''];
      let point = ['', ''];
      if (marked?.box != null) {
        const decoded = await readDicomBytes(raw, instance.file, { voi: 'minmax' });
        const [x0, y0, x1, y1] = marked.box;
        if (x1 > x0 && y1 > y0) roi = [round(x0 * decoded.width), round(y0 * decoded.height), round(x1 * decoded.width), round(y1 * decoded.height)];
        else point = [round(x0 * decoded.width), round(y0 * decoded.height)];
      }
      const cells = [
        name,
        String(reference.label),
        reference.label === 1 ? 'fracture' : 'no-fracture',
        verdicts.map((v) => v.userName).join(' '),
        c.studyKey,
        String(index),
        ...roi,
        ...point,
        c.probability === null ? '' : String(c.probability),
        c.decision ?? '',
        c.auditSample ? '1' : '0',
        ...(options.withComments === true ? [agreeing.map((v) => v.comment).filter((t) => t !== '').join(' | ')] : []),
      ];
      lines.push(cells.map(csvCell).join(','));
    }
  }
  await writeFile(path.join(outDir, 'labels.csv'), `${lines.join('\n')}\n`);
  const report: FeedbackExportReport = { outDir, exportedAt: new Date().toISOString(), studies, images, labelled: { fracture, noFracture }, left, deidentified: deidentify };
  await writeFile(path.join(outDir, 'feedback-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

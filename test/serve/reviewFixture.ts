// A populated node store for the review tests: phantom radiographs (src/phantom) stored through the store API as
// received instances, each with a result and a heatmap PNG, and a study decision — no DICOM receiver needed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { encode as encodePng } from 'fast-png';
import type { FastifyInstance } from 'fastify';
import { encodeImage, planCohort } from '../../src/phantom/index.js';
import { buildHttpApp } from '../../src/serve/http/index.js';
import { createServeLogger } from '../../src/serve/log.js';
import { REVIEW_MIGRATIONS, hashPassword, reviewPlugin, ReviewRepository, type ReviewPluginOptions, type Role } from '../../src/serve/review/index.js';
import { openStore, type BlobStore, type ResultBox, type SqliteStore } from '../../src/serve/store/index.js';

export interface FixtureStudy {
  readonly studyInstanceUid: string;
  readonly studyKey: string;
  readonly accession: string;
  readonly decision: string;
  readonly probability: number;
  readonly sopInstanceUids: readonly string[];
}

/** A red-to-transparent blob in the image's lower middle, as Grad-CAM heatmaps look. */
export function heatmapPng(size = 64): Uint8Array {
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - size * 0.55, y - size * 0.6) / (size * 0.3);
      const a = Math.max(0, 1 - d);
      const i = (y * size + x) * 4;
      data[i] = 255;
      data[i + 1] = Math.round(200 * (1 - a));
      data[i + 2] = 0;
      data[i + 3] = Math.round(255 * a);
    }
  }
  return encodePng({ width: size, height: size, data, channels: 4, depth: 8 });
}

/** Stores one study of `images` DICOM files (phantom renders, or the given bytes) with results and a decision. */
export async function addStudy(store: SqliteStore, blobs: BlobStore, options: {
  readonly uid: string; readonly accession: string; readonly decision: string; readonly probability: number;
  readonly dicoms: readonly { readonly sop: string; readonly bytes: Uint8Array }[]; readonly heatmap?: boolean;
  /** Fracture boxes of a box head, in the images' pixels, on every image's result. */
  readonly boxes?: readonly ResultBox[];
}): Promise<FixtureStudy> {
  const heat = options.heatmap === false ? '' : (await blobs.put(heatmapPng(), 'heatmaps', '.png')).file;
  for (const d of options.dicoms) {
    const blob = await blobs.put(d.bytes);
    store.recordInstance({
      sopInstanceUid: d.sop, sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', studyInstanceUid: options.uid, seriesInstanceUid: `${options.uid}.1`,
      transferSyntaxUid: '1.2.840.10008.1.2.1', sha256: blob.sha256, file: blob.file, bytes: blob.bytes, status: 'stored', reason: '', source: 'ae:TEST',
      context: { studyInstanceUid: options.uid, patientId: `PID-${options.accession}`, patientName: 'Doe^Jane', accessionNumber: options.accession, studyDate: '20260101' },
    });
  }
  // The node's words: the study decision from src/serve/results/decideStudy.ts, each image's route from src/triage.
  const imageDecision = options.decision === 'radiologist-review' ? 'radiologist-review' : options.decision === 'not-processed' ? 'not-processed' : 'auto-report';
  for (const job of store.claimJobs(100)) {
    store.recordResult(job.id, {
      sopInstanceUid: job.sopInstanceUid, decision: imageDecision, fractureProbability: options.probability, predicted: options.probability >= 0.5 ? 'fracture' : 'no-fracture',
      confidence: Math.max(options.probability, 1 - options.probability), level: '', reason: imageDecision === 'radiologist-review' ? 'confidence below the cut-off' : 'confident', heatmap: heat,
      ...(options.boxes === undefined ? {} : { boxes: options.boxes }),
    });
  }
  store.recordStudyDecision(options.uid, { decision: options.decision, reason: options.decision === 'radiologist-review' ? 'confidence below the cut-off' : 'confident', fractureProbability: options.probability }, []);
  return { studyInstanceUid: options.uid, studyKey: store.studyKey(options.uid), accession: options.accession, decision: options.decision, probability: options.probability, sopInstanceUids: options.dicoms.map((d) => d.sop) };
}

/** Phantom DICOM files: `patients` studies of two views each (AP and lateral), `size` pixels square. */
export function phantomDicoms(patients: number, size = 256, seed = 7): { readonly sop: string; readonly bytes: Uint8Array }[][] {
  const plan = planCohort({ patients, seed, difficulty: 'easy', size });
  return plan.map((p) => p.images.map((img) => {
    const e = encodeImage(seed, img, false);
    return { sop: e.sopInstanceUid, bytes: e.bytes };
  }));
}

export interface ReviewFixture {
  readonly dir: string;
  readonly store: SqliteStore;
  readonly blobs: BlobStore;
  readonly repo: ReviewRepository;
  readonly studies: FixtureStudy[];
  readonly logs: string[];
  app(options?: Partial<ReviewPluginOptions>): Promise<FastifyInstance>;
  addUser(name: string, role: Role, password?: string): Promise<void>;
  close(): void;
}

export const PASSWORD = 'correct horse battery';

/** A data folder with four studies: two needing review (one with a heatmap), two auto-reported. */
export async function reviewFixture(options: { readonly size?: number } = {}): Promise<ReviewFixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-review-'));
  const { store, blobs } = openStore(dir, { migrations: REVIEW_MIGRATIONS, minFreeBytes: 0 });
  const repo = new ReviewRepository(store);
  const dicoms = phantomDicoms(4, options.size ?? 256);
  const studies: FixtureStudy[] = [];
  const specs = [
    { decision: 'radiologist-review', probability: 0.62 },
    { decision: 'radiologist-review', probability: 0.41 },
    { decision: 'fracture-suspected', probability: 0.97 },
    { decision: 'no-fracture', probability: 0.03 },
  ];
  // The review studies' model has a box head: one fracture box on each image.
  const size = options.size ?? 256;
  const boxes = [{ box: [Math.round(size * 0.3), Math.round(size * 0.35), Math.round(size * 0.6), Math.round(size * 0.65)] as const, score: 0.83 }];
  for (const [i, spec] of specs.entries()) {
    studies.push(await addStudy(store, blobs, { uid: `1.2.826.0.1.3680043.10.1.${i + 1}`, accession: `ACC${1000 + i}`, ...spec, dicoms: dicoms[i] ?? [], ...(i < 2 ? { boxes } : {}) }));
  }
  const logs: string[] = [];
  return {
    dir, store, blobs, repo, studies, logs,
    async app(options = {}) {
      const sink = new Writable({ write(chunk, _enc, done) { logs.push(String(chunk)); done(); } });
      const app = await buildHttpApp({ store, logger: createServeLogger({ destination: sink }), health: () => ({ status: 'ok', version: 'test', uptimeSeconds: 1, checks: {} }) }, [reviewPlugin({ store, blobs, pollMs: 100, resamples: 200, ...options })]);
      return app;
    },
    async addUser(name, role, password = PASSWORD) {
      repo.addUser(name, role, await hashPassword(password));
    },
    close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Cohort planning: which patients, which fractures, which images, with which confounders and encodings.
// Every choice that could leak the label (implants, markers, exposure, views, encoding) is drawn independently of it.
import { Rng } from '../util/index.js';
import { type Side, sampleAnatomy } from './anatomy.js';
import type { DetectorSpec } from './detector.js';
import { sampleFracture } from './fractures.js';
import { compatibleFractures, sampleImplant } from './implants.js';
import { sampleMarkers } from './markers.js';
import { DIFFICULTIES, type Difficulty, type ImageSpec, type ImplantSpec } from './types.js';
import { type ViewKind, sampleView } from './views.js';
import { TransferSyntax, type TransferSyntaxUid } from './dicomWriter.js';
import { PhantomError } from './errors.js';

export interface CohortOptions {
  readonly patients: number;
  readonly seed: number;
  readonly difficulty: Difficulty;
  /** Image width and height in pixels (default 1024). */
  readonly size?: number;
  /** Share of patients with a fracture (default 0.43, the Twente study's). */
  readonly prevalence?: number;
  /** Share of images whose label in labels.csv is flipped (annotations keep the truth). Default 0. */
  readonly labelNoise?: number;
  /** Transfer syntaxes to draw from, uniformly per image (default: explicit VR LE, implicit VR LE, RLE Lossless). */
  readonly transferSyntaxes?: readonly TransferSyntaxUid[];
}

export const DEFAULT_SIZE = 1024;
export const DEFAULT_PREVALENCE = 0.43;

/** Confounder rates per difficulty; identical for both classes. */
const CONFOUNDERS: Record<Difficulty, { readonly motion: number; readonly lowContrast: number; readonly implant: number; readonly contralateralImplant: number }> = {
  easy: { motion: 0.03, lowContrast: 0.03, implant: 0.08, contralateralImplant: 0.1 },
  standard: { motion: 0.08, lowContrast: 0.08, implant: 0.12, contralateralImplant: 0.12 },
  hard: { motion: 0.12, lowContrast: 0.12, implant: 0.15, contralateralImplant: 0.15 },
};

export interface PlannedImage {
  /** Position in the whole cohort (0-based), also the file's number. */
  readonly index: number;
  readonly patientIndex: number;
  readonly spec: ImageSpec;
  readonly modality: 'DX' | 'CR';
  readonly transferSyntax: TransferSyntaxUid;
  /** The label written to labels.csv (differs from the truth when label noise flipped it). */
  readonly recordedLabel: 0 | 1;
}

export interface PlannedPatient {
  readonly index: number;
  readonly label: 0 | 1;
  readonly side: Side;
  readonly images: readonly PlannedImage[];
}

/**
 * The default mix. Deflated Explicit VR LE is written correctly but left out by default: Debian's dicom3tools
 * (dciodvfy) is built without zlib and cannot read it. Ask for it with `transferSyntaxes`.
 */
export const DEFAULT_TRANSFER_SYNTAXES: readonly TransferSyntaxUid[] = [TransferSyntax.explicitVrLittleEndian, TransferSyntax.implicitVrLittleEndian, TransferSyntax.rleLossless];

/** A generator per (seed, stream, index): patient i's draws do not depend on how many patients there are. */
export function streamRng(seed: number, stream: number, index: number): Rng {
  let h = Math.imul((seed >>> 0) ^ 0x3c6ef372, 0x9e3779b1) >>> 0;
  h = Math.imul(h ^ (stream + 0x632be5ab), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (index + 0x1b873593), 0xc2b2ae35) >>> 0;
  return new Rng((h ^ (h >>> 15)) >>> 0);
}

export function validateCohortOptions(o: CohortOptions): void {
  const problems: string[] = [];
  if (!Number.isInteger(o.patients) || o.patients < 1) problems.push(`patients must be a positive integer (got ${o.patients})`);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) problems.push(`seed must be an integer in [0, 2^32) (got ${o.seed})`);
  if (!DIFFICULTIES.includes(o.difficulty)) problems.push(`difficulty must be one of ${DIFFICULTIES.join('|')} (got ${String(o.difficulty)})`);
  const size = o.size ?? DEFAULT_SIZE;
  if (!Number.isInteger(size) || size < 32 || size > 4096) problems.push(`size must be an integer in [32, 4096] (got ${size})`);
  const p = o.prevalence ?? DEFAULT_PREVALENCE;
  if (!(p >= 0 && p <= 1)) problems.push(`prevalence must be in [0, 1] (got ${p})`);
  const ln = o.labelNoise ?? 0;
  if (!(ln >= 0 && ln <= 0.5)) problems.push(`labelNoise must be in [0, 0.5] (got ${ln})`);
  const known: readonly string[] = Object.values(TransferSyntax);
  for (const ts of o.transferSyntaxes ?? []) if (!known.includes(ts)) problems.push(`unsupported transfer syntax ${ts} (known: ${known.join(', ')})`);
  if (o.transferSyntaxes !== undefined && o.transferSyntaxes.length === 0) problems.push('transferSyntaxes must not be empty');
  if (problems.length > 0) throw new PhantomError('HF_PHANTOM_BAD_OPTIONS', `Invalid phantom options: ${problems.join('; ')}.`, { fix: 'Correct the options listed and run again.' });
}

function sampleDetector(rng: Rng, difficulty: Difficulty, size: number): DetectorSpec {
  const r = size / 1024;
  const c = CONFOUNDERS[difficulty];
  const angle = rng.int(0, 8) * (Math.PI / 4);
  const motion = rng.bernoulli(c.motion) ? { dx: Math.cos(angle), dy: Math.sin(angle), lengthPx: Math.max(2, rng.uniform(4, 12) * r) } : null;
  const lowContrast = rng.bernoulli(c.lowContrast);
  return {
    blurSigmaPx: rng.uniform(0.5, 1.1) * r,
    motion,
    // Photons per pixel scale with pixel area, so a smaller matrix of the same field is less noisy per pixel.
    photonsPerPixel: Math.exp(rng.uniform(Math.log(2500), Math.log(30000))) / (r * r),
    equalisation: rng.uniform(0.5, 0.8),
    contrast: lowContrast ? rng.uniform(0.22, 0.4) : rng.uniform(0.85, 1.1),
    brightness: rng.normal(0, 0.035),
    heel: rng.uniform(-0.15, 0.15),
    bitsStored: rng.pick([12, 12, 14, 15, 16]),
    monochrome1: rng.bernoulli(0.35),
    outsideValue: rng.bernoulli(0.75) ? rng.uniform(0.9, 0.97) : rng.uniform(0.02, 0.06),
    noiseSeed: rng.nextUint32(),
  };
}

function chooseViews(rng: Rng): ViewKind[] {
  const n = rng.pick([1, 1, 2, 2, 2, 3]);
  const first: ViewKind = rng.bernoulli(0.6) ? 'AP_PELVIS' : 'AP_HIP';
  const views: ViewKind[] = [first];
  if (n >= 2) views.push('LATERAL_HIP');
  if (n >= 3) views.push(first === 'AP_PELVIS' ? 'AP_HIP' : 'AP_PELVIS');
  return views;
}

/** Plans the cohort: patient by patient, the images and everything needed to render and encode them. */
export function planCohort(options: CohortOptions): PlannedPatient[] {
  validateCohortOptions(options);
  const size = options.size ?? DEFAULT_SIZE;
  const prevalence = options.prevalence ?? DEFAULT_PREVALENCE;
  const labelNoise = options.labelNoise ?? 0;
  const c = CONFOUNDERS[options.difficulty];
  const patients: PlannedPatient[] = [];
  let imageIndex = 0;
  for (let p = 0; p < options.patients; p++) {
    const rng = streamRng(options.seed, 1, p);
    const anatomy = sampleAnatomy(rng);
    const label: 0 | 1 = rng.bernoulli(prevalence) ? 1 : 0;
    const side: Side = rng.bernoulli(0.5) ? 'L' : 'R';
    const other: Side = side === 'L' ? 'R' : 'L';
    const implants: ImplantSpec[] = [];
    if (rng.bernoulli(c.implant)) implants.push(sampleImplant(rng, side));
    if (rng.bernoulli(c.contralateralImplant)) implants.push(sampleImplant(rng, other));
    const indexImplant = implants.find((i) => i.side === side);
    const fracture = sampleFracture(rng, options.difficulty, compatibleFractures(indexImplant?.kind ?? null));
    const images: PlannedImage[] = [];
    for (const kind of chooseViews(rng)) {
      const irng = streamRng(options.seed, 2, imageIndex);
      const view = sampleView(irng, kind, side, anatomy);
      const spec: ImageSpec = {
        size,
        anatomy,
        view,
        fracture,
        fractureApplied: label === 1,
        implants,
        markers: sampleMarkers(irng, side),
        detector: sampleDetector(irng, options.difficulty, size),
      };
      const flip = irng.bernoulli(labelNoise);
      images.push({
        index: imageIndex,
        patientIndex: p,
        spec,
        modality: irng.bernoulli(0.5) ? 'DX' : 'CR',
        transferSyntax: irng.pick(options.transferSyntaxes ?? DEFAULT_TRANSFER_SYNTAXES),
        recordedLabel: (flip ? 1 - label : label) as 0 | 1,
      });
      imageIndex++;
    }
    patients.push({ index: p, label, side, images });
  }
  return patients;
}

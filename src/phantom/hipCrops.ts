// Twin hip crops: each planned radiograph rendered twice — with its fracture and as the same patient, exposure and
// noise without it — and cut out around the index hip. A localisation benchmark where the only difference between
// the classes is the fracture, so Grad-CAM can be scored against a box that the model must have used.
import { Rng } from '../util/index.js';
import { planCohort } from './plan.js';
import { toDisplay8 } from './preview.js';
import { renderImage } from './render.js';
import { HIP_ROI_MM } from './roi.js';
import type { Difficulty, FractureType } from './types.js';
import type { ViewKind } from './views.js';
import { PhantomError } from './errors.js';

export interface HipCropOptions {
  readonly patients: number;
  readonly seed: number;
  /** Default 'easy' (90 % displaced fractures). */
  readonly difficulty?: Difficulty;
  /** Rendered image side in pixels before cropping (default 256). */
  readonly size?: number;
  /** Side of the square field cut around the hip, in millimetres at the detector (default HIP_ROI_MM, 180). */
  readonly cropMm?: number;
  /** Side of each crop in pixels (default 96). */
  readonly outputSize?: number;
  /** Views to keep (default the two AP views: the lateral shows the neck end-on). */
  readonly views?: readonly ViewKind[];
  /**
   * The crop centre moves off the fracture region by up to this share of the crop side in x and y (default 0.25),
   * so the fracture is not always in the middle and a centre-biased heatmap cannot win the pointing game.
   */
  readonly jitter?: number;
}

export interface HipCropSet {
  readonly outputSize: number;
  /** [count, outputSize, outputSize] grey values in [0, 1], display polarity (bone bright). */
  readonly images: Float32Array;
  /** 1 = fractured, 0 = intact twin. Crops come in twins: 2k fractured, 2k + 1 the same image intact. */
  readonly labels: Uint8Array;
  /** The fracture region in crop pixels [x0, y0, x1, y1] (x1/y1 exclusive); the intact twin carries the same box. */
  readonly boxes: readonly (readonly [number, number, number, number])[];
  /** Patient index per crop (split by patient). */
  readonly patients: Int32Array;
  readonly views: readonly ViewKind[];
  readonly fractureTypes: readonly FractureType[];
  readonly count: number;
}

const DEFAULT_VIEWS: readonly ViewKind[] = ['AP_PELVIS', 'AP_HIP'];

/** Renders the twin crops of a cohort in which every patient has a fracture (prevalence 1). Deterministic. */
export function renderHipCrops(options: HipCropOptions): HipCropSet {
  const size = options.size ?? 256;
  const cropMm = options.cropMm ?? HIP_ROI_MM;
  const out = options.outputSize ?? 96;
  const jitter = options.jitter ?? 0.25;
  const views = options.views ?? DEFAULT_VIEWS;
  const problems: string[] = [];
  if (!(cropMm > 10 && cropMm <= 600)) problems.push(`cropMm must be in (10, 600], got ${cropMm}`);
  if (!Number.isInteger(out) || out < 16 || out > 1024) problems.push(`outputSize must be an integer in [16, 1024], got ${out}`);
  if (!(jitter >= 0 && jitter <= 0.45)) problems.push(`jitter must be in [0, 0.45] (larger moves the fracture out of the crop), got ${jitter}`);
  if (views.length === 0) problems.push('views must not be empty');
  if (problems.length > 0) throw new PhantomError('HF_PHANTOM_BAD_OPTIONS', `Invalid hip-crop options: ${problems.join('; ')}.`, { fix: 'Correct the options listed and run again.' });

  const plan = planCohort({ patients: options.patients, seed: options.seed, difficulty: options.difficulty ?? 'easy', size, prevalence: 1 });
  const rng = new Rng((options.seed ^ 0x5eed) >>> 0);
  const crops: Float32Array[] = [];
  const labels: number[] = [];
  const boxes: [number, number, number, number][] = [];
  const patients: number[] = [];
  const keptViews: ViewKind[] = [];
  const types: FractureType[] = [];
  for (const patient of plan) {
    for (const image of patient.images) {
      if (!views.includes(image.spec.view.kind)) continue;
      const fractured = renderImage(image.spec);
      const region = fractured.candidateRegion;
      // A fracture hidden entirely under an implant changes no pixel: there is nothing to localise.
      if (region === null) continue;
      const intact = renderImage(image.spec, { withoutFracture: true });
      const side = cropMm / fractured.pixelSpacingMm;
      const [x0, y0, x1, y1] = region.box;
      const left = (x0 + x1) / 2 + rng.uniform(-jitter, jitter) * side - side / 2;
      const top = (y0 + y1) / 2 + rng.uniform(-jitter, jitter) * side - side / 2;
      const scale = out / side;
      const box: [number, number, number, number] = [(x0 - left) * scale, (y0 - top) * scale, (x1 - left) * scale, (y1 - top) * scale].map((v) => Math.min(out, Math.max(0, v))) as [number, number, number, number];
      for (const [img, label] of [[fractured, 1], [intact, 0]] as const) {
        crops.push(cropBilinear(toDisplay8(img), size, left, top, side, out));
        labels.push(label);
        boxes.push(box);
        patients.push(patient.index);
        keptViews.push(image.spec.view.kind);
        types.push(region.type);
      }
    }
  }
  const images = new Float32Array(crops.length * out * out);
  crops.forEach((c, i) => images.set(c, i * out * out));
  return { outputSize: out, images, labels: Uint8Array.from(labels), boxes, patients: Int32Array.from(patients), views: keptViews, fractureTypes: types, count: crops.length };
}

/** Bilinear resampling of the square [left, left + side) × [top, top + side) of an 8-bit image; edges clamp. */
function cropBilinear(display: Uint8Array, size: number, left: number, top: number, side: number, out: number): Float32Array {
  const result = new Float32Array(out * out);
  const step = side / out;
  const at = (x: number, y: number): number => display[Math.min(size - 1, Math.max(0, y)) * size + Math.min(size - 1, Math.max(0, x))] as number;
  for (let y = 0; y < out; y++) {
    const sy = top + (y + 0.5) * step - 0.5;
    const y0 = Math.floor(sy);
    const fy = sy - y0;
    for (let x = 0; x < out; x++) {
      const sx = left + (x + 0.5) * step - 0.5;
      const x0 = Math.floor(sx);
      const fx = sx - x0;
      const v = (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
      result[y * out + x] = v / 255;
    }
  }
  return result;
}

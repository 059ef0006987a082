// The phantom's data model: what an image is made of (ImageSpec) and what it knows about itself (truth).
// Specs are plain JSON-safe objects so they can cross worker threads and be stored next to the images.
import type { PatientAnatomy, Side } from './anatomy.js';
import type { DetectorSpec } from './detector.js';
import type { Jag } from './projection.js';
import type { ViewSpec } from './views.js';

export type Difficulty = 'easy' | 'standard' | 'hard';
export const DIFFICULTIES: readonly Difficulty[] = ['easy', 'standard', 'hard'];

export type FractureType = 'subcapital' | 'transcervical' | 'basicervical' | 'intertrochanteric' | 'subtrochanteric';
export const FRACTURE_TYPES: readonly FractureType[] = ['subcapital', 'transcervical', 'basicervical', 'intertrochanteric', 'subtrochanteric'];

export interface Displacement {
  /** Rotation of the proximal fragment about the femoral head centre, degrees. */
  readonly angulationDeg: number;
  /** Proximal fragment moved distally along the bone (overlap), mm. */
  readonly shorteningMm: number;
  /** Proximal fragment moved sideways (cortical step), mm. */
  readonly translationMm: number;
  /** Width of the fracture gap, mm; negative = impaction (the fragments overlap: a sclerotic band). */
  readonly gapMm: number;
}

export interface FractureSpec {
  readonly type: FractureType;
  readonly displaced: boolean;
  readonly displacement: Displacement;
  /** Where along the region of its type the fracture lies, 0..1. */
  readonly position: number;
  /** Tilt of the fracture plane in the coronal plane (Pauwels-like), degrees. */
  readonly planeTiltDeg: number;
  /** Tilt of the plane out of the beam, degrees: larger = fainter line. */
  readonly beamTiltDeg: number;
  readonly jag: Jag;
}

export type ImplantKind = 'hemiarthroplasty' | 'dynamic-hip-screw' | 'intramedullary-nail' | 'cannulated-screws';
export const IMPLANT_KINDS: readonly ImplantKind[] = ['hemiarthroplasty', 'dynamic-hip-screw', 'intramedullary-nail', 'cannulated-screws'];

export interface ImplantSpec {
  readonly kind: ImplantKind;
  readonly side: Side;
  readonly material: 'steel' | 'titanium' | 'cobalt-chrome';
}

export interface MarkerSpec {
  /** Lead side marker, its centre as fractions of the image, and its letter height in mm. */
  readonly letter: { readonly text: 'L' | 'R'; readonly fx: number; readonly fy: number; readonly heightMm: number } | null;
  readonly ruler: { readonly fx: number; readonly fy: number; readonly vertical: boolean; readonly lengthMm: number } | null;
  /** Magnification calibration ball (25 mm steel sphere used for templating). */
  readonly ball: { readonly fx: number; readonly fy: number; readonly diameterMm: number } | null;
}

export interface ImageSpec {
  readonly size: number;
  readonly anatomy: PatientAnatomy;
  readonly view: ViewSpec;
  /** The fracture this patient has, or would have had: drawn for every patient so negatives carry a sham region. */
  readonly fracture: FractureSpec | null;
  /** Whether the fracture is present in this image (the label). */
  readonly fractureApplied: boolean;
  readonly implants: readonly ImplantSpec[];
  readonly markers: MarkerSpec;
  readonly detector: DetectorSpec;
}

export interface RenderOptions {
  /** Render the same patient, view, exposure and noise without the fracture. */
  readonly withoutFracture?: boolean;
}

/** Uncompressed run-length mask: runs alternate 0s and 1s in row-major order, starting with a (possibly empty) run of 0s. */
export interface MaskRle {
  readonly size: readonly [number, number];
  readonly counts: readonly number[];
}

export interface FractureTruth {
  readonly type: FractureType;
  readonly side: Side;
  readonly displaced: boolean;
  readonly displacement: Displacement;
  /** [x0, y0, x1, y1] in pixels, x1/y1 exclusive: holds every pixel the fracture changes. */
  readonly box: readonly [number, number, number, number];
  /** Pixels where the fracture changes the noise-free projection (before blur). */
  readonly mask: MaskRle;
  readonly maskArea: number;
  /** The fracture line in pixel coordinates (a polyline across the bone). */
  readonly line: readonly (readonly [number, number])[];
}

export interface RenderedImage {
  readonly width: number;
  readonly height: number;
  /** Stored values (MONOCHROME1: high = dark). */
  readonly pixels: Uint16Array;
  readonly bitsStored: number;
  readonly photometric: 'MONOCHROME1' | 'MONOCHROME2';
  readonly pixelSpacingMm: number;
  readonly label: 0 | 1;
  /** Fractures visible in this image (empty when the label is 0). */
  readonly fractures: readonly FractureTruth[];
  /** The region the patient's fracture occupies or would occupy: the same kind of region in both classes. */
  readonly candidateRegion: FractureTruth | null;
}

// The three radiographic views (AP pelvis, AP hip, lateral hip) as beam geometry plus the pose of the index leg.
// A view is sampled per image: field of view, centring error, patient and leg rotation, collimation.
import type { Rng } from '../util/index.js';
import { type FemurLandmarks, type PatientAnatomy, type Side, sideSign } from './anatomy.js';
import { type Mat3, type RigidTransform, type Vec3, IDENTITY, add, cross, degrees, mulMM, mulMV, normalize, rotation, scale } from './geometry.js';
import type { ViewFrame } from './projection.js';

export type ViewKind = 'AP_PELVIS' | 'AP_HIP' | 'LATERAL_HIP';
export type LateralStyle = 'cross-table' | 'frog-leg';

export interface ViewSpec {
  readonly kind: ViewKind;
  /** The hip this image is about (both are on an AP pelvis; this one carries any fracture). */
  readonly side: Side;
  readonly lateralStyle: LateralStyle;
  /** Width of the square field of view at the patient, mm. */
  readonly fieldMm: number;
  /** Centring error in the image plane, mm. */
  readonly offsetU: number;
  readonly offsetV: number;
  /** Rotation of the image about the beam, degrees. */
  readonly inPlaneDeg: number;
  /** Patient rolled about the long axis (pelvic obliquity), degrees. */
  readonly patientRollDeg: number;
  /** Leg rotation about its long axis, degrees; positive = external rotation (typical after a fracture, but sampled the same for both classes). */
  readonly legRotationDeg: number;
  /** Collimated field as fractions of the image (left, top, right, bottom); outside it the detector is unexposed. */
  readonly collimation: readonly [number, number, number, number];
}

export function sampleView(rng: Rng, kind: ViewKind, side: Side, anatomy: PatientAnatomy): ViewSpec {
  const k = anatomy.scale;
  const fieldMm = kind === 'AP_PELVIS' ? rng.uniform(360, 420) * k : rng.uniform(210, 260) * k;
  const tight = rng.bernoulli(0.5);
  const c = (): number => (tight ? rng.uniform(0.02, 0.1) : rng.bernoulli(0.5) ? 0 : rng.uniform(0, 0.04));
  return {
    kind,
    side,
    lateralStyle: rng.bernoulli(0.6) ? 'cross-table' : 'frog-leg',
    fieldMm,
    offsetU: rng.normal(0, fieldMm * 0.03),
    offsetV: rng.normal(0, fieldMm * 0.03),
    inPlaneDeg: rng.normal(0, kind === 'LATERAL_HIP' ? 6 : 2.5),
    patientRollDeg: rng.normal(0, 4),
    legRotationDeg: rng.uniform(-15, 30),
    collimation: [c(), c(), c(), c()],
  };
}

/** Rows of a rotation (u, v, w) from two in-plane axes. */
function rowsFrom(u: Vec3, v: Vec3): Mat3 {
  const w = cross(u, v);
  return [u[0], u[1], u[2], v[0], v[1], v[2], w[0], w[1], w[2]];
}

/** Where the leg is: rotation about the femoral head centre applied to the femur and anything fixed to it. */
export function legPose(view: ViewSpec, lm: FemurLandmarks): RigidTransform {
  const s = sideSign(lm.side);
  let r: Mat3 = rotation([0, 1, 0], degrees(-s * view.legRotationDeg));
  if (view.kind === 'LATERAL_HIP' && view.lateralStyle === 'frog-leg') {
    // Hip flexed ~40°, abducted ~45°, externally rotated: the lesser trochanter and neck turn into profile.
    const flex = rotation([1, 0, 0], degrees(-40));
    const abduct = rotation([0, 0, 1], degrees(-s * 45));
    r = mulMM(abduct, mulMM(flex, rotation([0, 1, 0], degrees(-s * 20))));
  }
  return { rotation: r, pivot: lm.headCenter, translation: [0, 0, 0] };
}

/** The beam geometry of one view: patient → view rotation and the field's centre. */
export function viewFrame(view: ViewSpec, anatomy: PatientAnatomy, lm: FemurLandmarks, size: number): ViewFrame {
  const s = sideSign(view.side);
  const k = anatomy.scale;
  const roll = rotation([0, 1, 0], degrees(view.patientRollDeg));
  const spin = rotation([0, 0, 1], degrees(view.inPlaneDeg));
  let base: Mat3 = IDENTITY;
  let centre: Vec3;
  if (view.kind === 'AP_PELVIS') {
    centre = [0, -18 * k, 0];
  } else if (view.kind === 'AP_HIP' || view.lateralStyle === 'frog-leg') {
    centre = add(add(lm.headCenter, scale(lm.lateral, 14 * k)), scale(lm.shaftAxis, 40 * k));
    if (view.kind === 'LATERAL_HIP') centre = add(lm.headCenter, [s * 30 * k, 30 * k, 0]);
  } else {
    // Cross-table lateral: horizontal beam perpendicular to the femoral neck; anterior up, the shaft running away from the head.
    const along = normalize([-lm.neckAxis[0], -lm.neckAxis[1], 0]);
    base = rowsFrom(along, [0, 0, 1]);
    centre = add(lm.headCenter, scale(along, 45 * k));
  }
  const rot = mulMM(spin, mulMM(base, roll));
  const c = mulMV(rot, centre);
  return { size, mmPerPx: view.fieldMm / size, rotation: rot, centerU: c[0] + view.offsetU, centerV: c[1] + view.offsetV };
}

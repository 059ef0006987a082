// Proximal femoral fractures: a fracture plane splits the femur into a distal and a proximal fragment; the gap or
// overlap between them and the proximal fragment's displacement make the fracture, from gross to barely visible.
import type { Rng } from '../util/index.js';
import { type FemurLandmarks, sideSign } from './anatomy.js';
import { type RigidTransform, type Vec3, add, applyRigid, axpy, cross, degrees, dot, normalize, rotation, scale, sub } from './geometry.js';
import type { BoneGroup, ClipPlane, Jag, Solid } from './projection.js';
import { transformGroup } from './transform.js';
import type { Difficulty, FractureSpec, FractureType } from './types.js';

/** Share of displaced fractures per difficulty (the rest are undisplaced: a thin line, an impaction band, a step). */
const DISPLACED_SHARE: Record<Difficulty, number> = { easy: 0.9, standard: 0.5, hard: 0.15 };

// Roughly the clinical mix: neck fractures about half, intertrochanteric ~40 %, subtrochanteric ~10 %.
const TYPE_WEIGHTS: readonly (readonly [FractureType, number])[] = [
  ['subcapital', 0.2],
  ['transcervical', 0.17],
  ['basicervical', 0.1],
  ['intertrochanteric', 0.4],
  ['subtrochanteric', 0.13],
];

export function sampleFractureType(rng: Rng, allowed: readonly FractureType[]): FractureType {
  const weights = TYPE_WEIGHTS.filter(([t]) => allowed.includes(t));
  const total = weights.reduce((s, [, w]) => s + w, 0);
  let r = rng.uniform(0, total);
  for (const [t, w] of weights) {
    r -= w;
    if (r <= 0) return t;
  }
  return (weights[weights.length - 1] as readonly [FractureType, number])[0];
}

export function sampleFracture(rng: Rng, difficulty: Difficulty, allowed: readonly FractureType[]): FractureSpec {
  const type = sampleFractureType(rng, allowed);
  const displaced = rng.bernoulli(DISPLACED_SHARE[difficulty]);
  const neck = type === 'subcapital' || type === 'transcervical' || type === 'basicervical';
  const jag: Jag = {
    amplitude1: rng.uniform(0.3, difficulty === 'hard' ? 1 : 1.8),
    wavelength1: rng.uniform(10, 24),
    phase1: rng.uniform(0, 2 * Math.PI),
    amplitude2: rng.uniform(0.1, 0.45),
    wavelength2: rng.uniform(3.5, 7),
    phase2: rng.uniform(0, 2 * Math.PI),
  };
  let displacement;
  if (displaced) {
    // Easy fractures must be learnable by a small CNN at 64–128 px in a few epochs: gaps of several pixels there.
    const big = difficulty === 'easy' ? 1.4 : rng.uniform(0.45, 1);
    displacement = {
      angulationDeg: Math.min(1, big) * rng.uniform(14, neck ? 28 : 24) + (big > 1 ? 4 : 0),
      shorteningMm: big * rng.uniform(0, neck ? 4 : 8),
      translationMm: big * rng.uniform(2, 7),
      gapMm: big * rng.uniform(2.5, 5.5) * (rng.bernoulli(0.8) ? 1 : -0.6),
    };
  } else {
    // Undisplaced: a lucent line, a sclerotic impaction band, or a small cortical step.
    const kind = rng.int(0, 3);
    const subtle = difficulty === 'hard' ? 0.6 : 1;
    displacement = {
      angulationDeg: rng.uniform(0, 1) * subtle,
      shorteningMm: 0,
      translationMm: kind === 2 ? rng.uniform(0.8, 2.2) * subtle : 0,
      gapMm: kind === 1 ? -rng.uniform(0.8, 2.2) * subtle : rng.uniform(0.5, 1.6) * subtle,
    };
  }
  return {
    type,
    displaced,
    displacement,
    position: rng.next(),
    planeTiltDeg: rng.normal(0, 12),
    beamTiltDeg: rng.normal(0, difficulty === 'hard' ? 20 : difficulty === 'standard' ? 12 : 6),
    jag,
  };
}

interface FracturePlane {
  readonly point: Vec3;
  /** Unit normal pointing to the proximal (head) side. */
  readonly normal: Vec3;
  /** Unit direction of the fracture line in the plane, roughly coronal. */
  readonly along: Vec3;
  /** Half-length of the fracture line across the bone, mm. */
  readonly halfWidth: number;
  /** The bone's axis at the fracture, pointing proximally. */
  readonly boneAxis: Vec3;
}

function fracturePlane(lm: FemurLandmarks, f: FractureSpec): FracturePlane {
  const h = lm.headCenter;
  const r = lm.headRadius;
  const k = lm.shaftRadius / 14;
  const ap: Vec3 = [0, 0, 1];
  let point: Vec3;
  let axis: Vec3;
  let halfWidth: number;
  switch (f.type) {
    case 'subcapital':
      point = axpy(h, -r * (0.78 + 0.15 * f.position), lm.neckAxis);
      axis = lm.neckAxis;
      halfWidth = 0.75 * r;
      break;
    case 'transcervical':
      point = axpy(h, -(r + (lm.neckLength - r - 12 * k) * (0.25 + 0.45 * f.position)), lm.neckAxis);
      axis = lm.neckAxis;
      halfWidth = 0.72 * r;
      break;
    case 'basicervical':
      point = axpy(lm.neckBase, (9 + 7 * f.position) * k, lm.neckAxis);
      axis = lm.neckAxis;
      halfWidth = 0.85 * r;
      break;
    case 'intertrochanteric': {
      // From just below the greater trochanter's tip to the lesser trochanter.
      const g0 = add(axpy(lm.greaterTrochanter, 8 * k, lm.shaftAxis), scale(lm.lateral, -2 * k));
      const l0: Vec3 = [lm.lesserTrochanter[0], lm.lesserTrochanter[1], 0];
      point = add(g0, scale(sub(l0, g0), 0.4 + 0.2 * f.position));
      const line = normalize(sub(l0, g0));
      axis = normalize(cross(line, ap));
      if (dot(axis, sub(h, point)) < 0) axis = scale(axis, -1);
      halfWidth = Math.hypot(l0[0] - g0[0], l0[1] - g0[1]) / 2 + 6 * k;
      break;
    }
    case 'subtrochanteric':
      point = axpy(lm.neckBase, (60 + 30 * f.position) * k, lm.shaftAxis);
      axis = scale(lm.shaftAxis, -1);
      halfWidth = lm.shaftRadius * 1.3;
      break;
  }
  // Tilt in the coronal plane, then out of it (towards the beam), which blurs the line's projection.
  let normal = normalize(applyRigid({ rotation: rotation(ap, degrees(f.planeTiltDeg)), pivot: [0, 0, 0], translation: [0, 0, 0] }, axis));
  const along0 = normalize(cross(normal, ap));
  normal = normalize(applyRigid({ rotation: rotation(along0, degrees(f.beamTiltDeg)), pivot: [0, 0, 0], translation: [0, 0, 0] }, normal));
  return { point, normal, along: normalize(cross(normal, ap)), halfWidth, boneAxis: axis };
}

/** The displacement of the proximal fragment: rotation about the head centre, then translation. */
export function fragmentMotion(lm: FemurLandmarks, f: FractureSpec): RigidTransform {
  const plane = fracturePlane(lm, f);
  const s = sideSign(lm.side);
  const d = f.displacement;
  const ap: Vec3 = [0, 0, 1];
  let rot = rotation(ap, degrees(d.angulationDeg));
  if (f.type === 'subtrochanteric') {
    // Subtrochanteric: the iliopsoas and abductors pull the proximal fragment into abduction and flexion.
    const abduct = (sign: number): boolean => {
      const moved = applyRigid({ rotation: rotation(ap, degrees(sign * d.angulationDeg)), pivot: lm.headCenter, translation: [0, 0, 0] }, plane.point);
      return (moved[0] - plane.point[0]) * s > 0;
    };
    rot = rotation(ap, degrees((abduct(1) ? 1 : -1) * d.angulationDeg));
    rot = mulRot(rotation([1, 0, 0], degrees(-0.5 * d.angulationDeg)), rot);
  } else {
    // Neck and trochanteric fractures collapse into varus: the fragment's fracture surface swings down.
    const moved = applyRigid({ rotation: rot, pivot: lm.headCenter, translation: [0, 0, 0] }, plane.point);
    if (moved[1] < plane.point[1]) rot = rotation(ap, degrees(-d.angulationDeg));
  }
  const side = normalize(cross(plane.boneAxis, ap));
  const translation = add(scale(plane.boneAxis, -d.shorteningMm), scale(side, d.translationMm));
  return { rotation: rot, pivot: lm.headCenter, translation };
}

function mulRot(a: readonly number[], b: readonly number[]): RigidTransform['rotation'] {
  const r: number[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) r.push((a[3 * i] as number) * (b[j] as number) + (a[3 * i + 1] as number) * (b[3 + j] as number) + (a[3 * i + 2] as number) * (b[6 + j] as number));
  return r as unknown as RigidTransform['rotation'];
}

/**
 * Splits the femur at the fracture plane. Returns [distal, proximal]; the proximal fragment is displaced. The two
 * clip planes share one jagged edge, so an undisplaced fracture with no gap reassembles the intact bone exactly.
 */
export function applyFracture(femur: BoneGroup, lm: FemurLandmarks, f: FractureSpec): BoneGroup[] {
  const plane = fracturePlane(lm, f);
  const c = dot(plane.normal, plane.point);
  const half = f.displacement.gapMm / 2;
  const distalClip: ClipPlane = { normal: plane.normal, offset: c - half, jag: f.jag };
  // The proximal side keeps n·p ≥ c + gap/2 + jag(s); its clip normal is −n, which reverses s, hence the negated phases.
  const proximalClip: ClipPlane = {
    normal: scale(plane.normal, -1),
    offset: -(c + half),
    jag: { ...f.jag, phase1: -f.jag.phase1, phase2: -f.jag.phase2 },
  };
  // A solid wholly on one side of the fracture adds nothing to the other fragment: leaving it out is exact and
  // saves projecting, e.g., the whole shaft a second time for a neck fracture.
  const jagMax = Math.abs(f.jag.amplitude1) + Math.abs(f.jag.amplitude2) + 1e-6;
  const reaches = femur.solids.map((solid) => extentAlong(solid, plane.normal));
  const distalSolids = femur.solids.filter((_, i) => (reaches[i] as [number, number])[0] <= c - half + jagMax);
  const proximalSolids = femur.solids.filter((_, i) => (reaches[i] as [number, number])[1] >= c + half - jagMax);
  const distal: BoneGroup = { ...femur, solids: distalSolids, clips: [...(femur.clips ?? []), distalClip] };
  const proximal: BoneGroup = transformGroup({ ...femur, solids: proximalSolids, clips: [...(femur.clips ?? []), proximalClip] }, fragmentMotion(lm, f));
  return [distal, proximal];
}

/** [min, max] of n·p over a solid (exact for ellipsoids, a bound for tapered tubes). */
function extentAlong(solid: Solid, n: Vec3): [number, number] {
  if (solid.kind === 'ellipsoid') {
    let r2 = 0;
    for (let k = 0; k < 3; k++) {
      const col: Vec3 = [solid.frame[k] as number, solid.frame[3 + k] as number, solid.frame[6 + k] as number];
      r2 += (dot(n, col) * (solid.axes[k] as number)) ** 2;
    }
    const m = dot(n, solid.center);
    const r = Math.sqrt(r2);
    return [m - r, m + r];
  }
  const r = Math.max(solid.r0, solid.r1);
  const a = dot(n, solid.a);
  const b = dot(n, solid.b);
  return [Math.min(a, b) - r, Math.max(a, b) + r];
}

/** The fracture line across the bone (patient frame, anatomical pose): for drawing and for reports. */
export function fractureStrokes(lm: FemurLandmarks, f: FractureSpec): Vec3[] {
  const plane = fracturePlane(lm, f);
  const out: Vec3[] = [];
  for (let i = 0; i <= 8; i++) out.push(axpy(plane.point, plane.halfWidth * (i / 4 - 1), plane.along));
  return out;
}

// The patient's anatomy as attenuating solids: soft-tissue envelope, pelvic ring, sacrum, lumbar spine, femora.
// Each patient draws sizes, angles and bone density once; every view of that patient reuses them.
import type { Rng } from '../util/index.js';
import { type Mat3, type Vec3, IDENTITY, add, axpy, cross, degrees, frameAlong, mulMM, normalize, rotation, scale } from './geometry.js';
import type { BoneGroup, Ellipsoid, Solid, TrabecularTexture, Tube } from './projection.js';

export type Side = 'L' | 'R';
/** +1 for the patient's left (image right on an AP view), −1 for the right. */
export const sideSign = (side: Side): number => (side === 'L' ? 1 : -1);

export interface PatientAnatomy {
  readonly sex: 'F' | 'M';
  readonly ageYears: number;
  /** Overall skeletal size factor (1 = average adult). */
  readonly scale: number;
  /** Distance from the midline to each femoral head centre, mm. */
  readonly hipHalfWidth: number;
  readonly headRadius: number;
  /** Head centre to the shaft axis along the neck, mm. */
  readonly neckLength: number;
  readonly neckShaftAngle: Readonly<Record<Side, number>>;
  readonly anteversion: Readonly<Record<Side, number>>;
  readonly shaftRadius: number;
  readonly shaftCortex: number;
  /** 1 = normal bone, 0.45 = severe osteoporosis (thin cortex, sparse trabeculae). */
  readonly boneDensity: number;
  /** Body habitus: soft-tissue width factor and subcutaneous fat thickness, mm. */
  readonly habitus: number;
  readonly fatThickness: number;
  /** Seeds for this patient's trabecular texture and bowel gas. */
  readonly textureSeed: number;
  readonly gasSeed: number;
}

// Linear attenuation above that of the soft tissue the solid displaces, per mm, at a typical 70–80 kVp.
export const MU = {
  fat: 0.0175,
  muscle: 0.0205,
  cortical: 0.034,
  trabecular: 0.011,
  gas: -0.02,
  steel: 0.45,
  titanium: 0.16,
  cobaltChrome: 0.6,
  lead: 1.2,
} as const;

export function sampleAnatomy(rng: Rng): PatientAnatomy {
  const sex = rng.bernoulli(0.65) ? 'F' : 'M';
  const ageYears = Math.round(Math.min(98, Math.max(50, rng.normal(79, 9))));
  const s = Math.min(1.18, Math.max(0.84, rng.normal(sex === 'F' ? 0.95 : 1.04, 0.05)));
  // Hip fracture cohorts are old: density falls with age and is lower in women.
  const density = Math.min(1.1, Math.max(0.45, rng.normal(1.05 - (ageYears - 50) * 0.008 - (sex === 'F' ? 0.08 : 0), 0.1)));
  const nsa = rng.uniform(121, 139);
  const av = rng.uniform(5, 20);
  return {
    sex,
    ageYears,
    scale: s,
    hipHalfWidth: (sex === 'F' ? 92 : 87) * s * rng.uniform(0.96, 1.04),
    headRadius: (sex === 'F' ? 22.5 : 24.5) * s * rng.uniform(0.95, 1.05),
    neckLength: 56 * s * rng.uniform(0.92, 1.08),
    neckShaftAngle: { L: nsa + rng.normal(0, 1.5), R: nsa + rng.normal(0, 1.5) },
    anteversion: { L: av + rng.normal(0, 2), R: av + rng.normal(0, 2) },
    shaftRadius: 14 * s * rng.uniform(0.93, 1.07),
    shaftCortex: (3 + 3 * density) * s * rng.uniform(0.9, 1.1),
    boneDensity: density,
    habitus: rng.uniform(0.85, 1.3),
    fatThickness: rng.uniform(8, 45),
    textureSeed: rng.nextUint32(),
    gasSeed: rng.nextUint32(),
  };
}

/** Points and axes of one proximal femur in its anatomical (standing, neutral) pose. */
export interface FemurLandmarks {
  readonly side: Side;
  readonly headCenter: Vec3;
  readonly headRadius: number;
  /** Unit vector along the neck, from its base towards the head. */
  readonly neckAxis: Vec3;
  /** Where the neck axis meets the shaft axis. */
  readonly neckBase: Vec3;
  readonly neckLength: number;
  /** Unit vector along the shaft, pointing distally. */
  readonly shaftAxis: Vec3;
  /** Unit vector perpendicular to the shaft in the coronal plane, pointing laterally. */
  readonly lateral: Vec3;
  readonly greaterTrochanter: Vec3;
  readonly lesserTrochanter: Vec3;
  readonly shaftRadius: number;
}

export function femurLandmarks(a: PatientAnatomy, side: Side): FemurLandmarks {
  const s = sideSign(side);
  const adduction = degrees(8);
  const shaftAxis: Vec3 = [-s * Math.sin(adduction), Math.cos(adduction), 0];
  // Rotate the distal shaft direction by the neck-shaft angle, medially and upwards, in the coronal plane.
  const nsa = degrees(a.neckShaftAngle[side]);
  const c = Math.cos(nsa);
  const sn = Math.sin(nsa);
  const cand1: Vec3 = [shaftAxis[0] * c - shaftAxis[1] * sn, shaftAxis[0] * sn + shaftAxis[1] * c, 0];
  const cand2: Vec3 = [shaftAxis[0] * c + shaftAxis[1] * sn, -shaftAxis[0] * sn + shaftAxis[1] * c, 0];
  const coronalNeck = cand1[0] * s < 0 ? cand1 : cand2;
  // Anteversion tilts the neck forwards (−z is anterior).
  const av = Math.tan(degrees(a.anteversion[side]));
  const neckAxis = normalize([coronalNeck[0], coronalNeck[1], -av]);
  const headCenter: Vec3 = [s * a.hipHalfWidth, 0, 0];
  const neckBase = axpy(headCenter, -a.neckLength, neckAxis);
  const lateral = normalize([s * Math.cos(adduction), s * Math.sin(adduction), 0]);
  const k = a.scale;
  return {
    side,
    headCenter,
    headRadius: a.headRadius,
    neckAxis,
    neckBase,
    neckLength: a.neckLength,
    shaftAxis,
    lateral,
    greaterTrochanter: add(axpy(neckBase, -12 * k, shaftAxis), scale(lateral, 20 * k)),
    lesserTrochanter: add(add(axpy(neckBase, 40 * k, shaftAxis), scale(lateral, -16 * k)), [0, 0, 9 * k]),
    shaftRadius: a.shaftRadius,
  };
}

function ellipsoid(center: Vec3, axes: Vec3, frame: Mat3, cortex: number): Ellipsoid {
  return { kind: 'ellipsoid', center, axes, frame, cortex };
}

function tube(a: Vec3, b: Vec3, r0: number, r1: number, cortex: number): Tube {
  return { kind: 'tube', a, b, r0, r1, cortex };
}

export interface FemurOptions {
  /** Head and neck removed for a hemiarthroplasty. */
  readonly resected?: boolean;
}

/** The proximal femur as one bone: head, neck, trochanters, metaphysis and shaft. */
export function femurGroup(a: PatientAnatomy, lm: FemurLandmarks, options: FemurOptions = {}): BoneGroup {
  const k = a.scale;
  const d = a.boneDensity;
  const thin = 0.6 + 0.4 * d;
  const shaftFrame = frameAlong(lm.shaftAxis, lm.lateral);
  const solids: Solid[] = [];
  if (options.resected !== true) {
    solids.push(ellipsoid(lm.headCenter, [lm.headRadius, lm.headRadius, lm.headRadius], IDENTITY, 1.6 * thin));
    // The neck is an oval tube, wider at its base; two overlapping tubes give the oval cross-section.
    const neckStart = axpy(lm.headCenter, -0.35 * lm.headRadius, lm.neckAxis);
    const neckEnd = axpy(lm.neckBase, -8 * k, lm.neckAxis);
    const up = normalize(cross(lm.neckAxis, [0, 0, 1]));
    const off = 0.18 * lm.headRadius;
    solids.push(tube(axpy(neckStart, off, up), axpy(neckEnd, off, up), 0.55 * lm.headRadius, 0.72 * lm.headRadius, 1.8 * thin));
    solids.push(tube(axpy(neckStart, -off, up), axpy(neckEnd, -off, up), 0.55 * lm.headRadius, 0.8 * lm.headRadius, 3.2 * thin));
  } else {
    // The stump of the neck after a resection at its base.
    solids.push(tube(axpy(lm.neckBase, 14 * k, lm.neckAxis), lm.neckBase, 0.7 * lm.headRadius, 0.85 * lm.headRadius, 2.5 * thin));
  }
  // Metaphysis: the broad intertrochanteric block joining neck, trochanters and shaft.
  solids.push(ellipsoid(add(axpy(lm.neckBase, 14 * k, lm.shaftAxis), scale(lm.lateral, 7 * k)), [20 * k, 34 * k, 19 * k], shaftFrame, 1.5 * thin));
  solids.push(ellipsoid(lm.greaterTrochanter, [13 * k, 23 * k, 17 * k], mulMM(shaftFrame, rotation([0, 0, 1], degrees(-8 * sideSign(lm.side)))), 1.3 * thin));
  solids.push(ellipsoid(lm.lesserTrochanter, [8 * k, 12 * k, 8 * k], shaftFrame, 1.5 * thin));
  // Shaft: tapering from the metaphysis into a tube with a thick cortex.
  const shaftTop = axpy(lm.neckBase, 20 * k, lm.shaftAxis);
  // Three overlapping tubes so the cortex thickens gradually from the metaphysis into the diaphysis.
  // The cortex thickens gradually from the metaphysis into the diaphysis; radius and cortex are continuous.
  const rs = lm.shaftRadius;
  const c = a.shaftCortex;
  solids.push({ ...tube(shaftTop, axpy(lm.neckBase, 100 * k, lm.shaftAxis), 1.25 * rs, rs, 0.3 * c), cortexEnd: c });
  solids.push(tube(axpy(lm.neckBase, 100 * k, lm.shaftAxis), axpy(lm.neckBase, 420 * k, lm.shaftAxis), rs, rs * 0.95, c));
  // The trabecular streaks run up the neck into the head (principal compressive group).
  const textureAxis = normalize(add(lm.neckAxis, scale(lm.shaftAxis, -0.5)));
  return {
    solids,
    muCortical: MU.cortical * (0.75 + 0.25 * d),
    muTrabecular: MU.trabecular * d,
    textureAxis,
    fade: { origin: lm.neckBase, axis: lm.shaftAxis, start: 50 * k, end: 110 * k, floor: 0.15 },
  };
}

/** One hip bone (ilium, acetabulum, pubis, ischium), mirrored by side. */
export function hipBoneGroup(a: PatientAnatomy, side: Side): BoneGroup {
  const s = sideSign(side);
  const k = a.scale;
  const hw = a.hipHalfWidth;
  const d = a.boneDensity;
  const female = a.sex === 'F' ? 1 : 0;
  const p = (x: number, y: number, z: number): Vec3 => [s * x, y * k, z * k];
  // The iliac wing is a thin plate facing anterolaterally and flaring outwards at the crest.
  const wingFrame = mulMM(rotation([0, 1, 0], degrees(s * 38)), rotation([0, 0, 1], degrees(s * -(18 + 6 * female))));
  const solids: Solid[] = [
    // Acetabular body: no cortical rim of its own, so its outline does not draw a second circle round the head.
    ellipsoid(p(hw - 16 * k, -12, 4), [26 * k, 30 * k, 25 * k], IDENTITY, 0.3),
    ellipsoid(p(hw + 2 * k, -95, 14), [58 * k, 68 * k, 10 * k], wingFrame, 2.2),
    // The column of bone from the acetabulum up to the sacroiliac joint.
    tube(p(hw - 20 * k, -22, 5), p(36 * k + female * 6 * k, -85, 40), 12 * k, 11 * k, 2.0),
    // Superior and inferior pubic rami, pubic body and ischium frame the obturator foramen.
    tube(p(hw - 30 * k, 4, -8), p(16 * k, 32, -38), 7.5 * k, 6.5 * k, 1.5),
    ellipsoid(p(17 * k, 42, -38), [9 * k, 16 * k, 10 * k], IDENTITY, 1.8),
    tube(p(13 * k, 54, -32), p(hw - 44 * k, 84, 10), 5.5 * k, 6.5 * k, 1.5),
    tube(p(hw - 20 * k, 16, 16), p(hw - 38 * k, 70, 18), 11 * k, 9 * k, 2.0),
    ellipsoid(p(hw - 40 * k, 80, 16), [14 * k, 11 * k, 14 * k], IDENTITY, 2.0),
  ];
  // The pelvic brim (iliopectineal line): a ridge from the sacrum round to the pubis.
  const brim: Vec3[] = [];
  for (let i = 0; i <= 6; i++) {
    const t = degrees(-95 + (i * 170) / 6);
    brim.push(p(Math.cos(t) * (hw * 0.72 + female * 6 * k) + 6 * k, -35 + Math.sin(t) * 60, -12 + 30 * Math.cos(t)));
  }
  for (let i = 0; i < brim.length - 1; i++) solids.push(tube(brim[i] as Vec3, brim[i + 1] as Vec3, 4.5 * k, 4.5 * k, 1.5));
  const socket: Ellipsoid = ellipsoid([s * hw, 0, 0], [a.headRadius + 2, a.headRadius + 2, a.headRadius + 2], IDENTITY, 0);
  return {
    solids,
    holes: [socket],
    muCortical: MU.cortical * (0.75 + 0.25 * d),
    muTrabecular: MU.trabecular * d * 0.9,
    textureAxis: normalize([s * 0.5, -1, 0.2]),
  };
}

/** The sclerotic acetabular roof (sourcil): a dense arc over the upper half of the socket, in the coronal plane. */
export function acetabularRoof(a: PatientAnatomy, side: Side): BoneGroup {
  const s = sideSign(side);
  const r = a.headRadius + 3.2;
  const solids: Solid[] = [];
  const point = (deg: number): Vec3 => [s * (a.hipHalfWidth + r * Math.cos(degrees(deg))), -r * Math.sin(degrees(deg)), 0];
  // From the lateral lip (20°) over the top to the medial side (150°), thinning towards the ends.
  for (let deg = 15; deg < 150; deg += 15) solids.push(tube(point(deg), point(deg + 15), 2.6, 2.6, 0));
  return { solids, muCortical: MU.cortical * 0.9, muTrabecular: 0, textureAxis: [0, 1, 0] };
}

/** Sacrum with its foramina, coccyx, and the two lowest lumbar vertebrae. */
export function spineGroups(a: PatientAnatomy): BoneGroup[] {
  const k = a.scale;
  const d = a.boneDensity;
  const female = a.sex === 'F' ? 1 : 0;
  const sacralFrame = rotation([1, 0, 0], degrees(-35));
  const holes: Solid[] = [];
  for (let i = 0; i < 4; i++) {
    for (const sx of [-1, 1]) {
      const y = (-110 + i * 20) * k;
      const x = sx * (15 - i * 1.5) * k;
      holes.push(tube([x, y, 0], [x, y + 6 * k, 90 * k], (4.2 - i * 0.5) * k, (4.2 - i * 0.5) * k, 0));
    }
  }
  const sacrum: BoneGroup = {
    solids: [
      ellipsoid([0, -98 * k, 45 * k], [(46 + female * 4) * k, 40 * k, 20 * k], sacralFrame, 2),
      tube([0, -70 * k, 50 * k], [0, -22 * k, 75 * k], 26 * k, 9 * k, 1.8),
      tube([0, -22 * k, 75 * k], [0, 2 * k, 82 * k], 8 * k, 4 * k, 1.5),
    ],
    holes,
    muCortical: MU.cortical * (0.75 + 0.25 * d),
    muTrabecular: MU.trabecular * d,
    textureAxis: [0, 1, 0],
  };
  const vertebra = (y: number): BoneGroup => ({
    solids: [
      ellipsoid([0, y * k, 20 * k], [26 * k, 13 * k, 19 * k], IDENTITY, 1.8),
      tube([-44 * k, (y - 4) * k, 40 * k], [44 * k, (y - 4) * k, 40 * k], 5 * k, 5 * k, 1.5),
      ellipsoid([0, (y - 2) * k, 45 * k], [9 * k, 11 * k, 14 * k], IDENTITY, 1.5),
    ],
    muCortical: MU.cortical * (0.75 + 0.25 * d),
    muTrabecular: MU.trabecular * d * 1.1,
    textureAxis: [0, 1, 0],
  });
  return [sacrum, vertebra(-158), vertebra(-192)];
}

/** Soft-tissue envelope (trunk and thighs) as one union: fat shell (cortex) over muscle (interior). */
export function softTissueGroup(a: PatientAnatomy): BoneGroup {
  const h = a.habitus;
  const k = a.scale;
  const fat = a.fatThickness * h;
  const trunkW = (165 + (a.sex === 'F' ? 12 : 0)) * k * h;
  const trunkD = 115 * k * h;
  const solids: Solid[] = [
    ellipsoid([0, -220 * k, 15 * k], [trunkW * 0.95, 260 * k, trunkD], IDENTITY, fat),
    ...(['L', 'R'] as const).flatMap((side) => {
      const s = sideSign(side);
      // Buttock and hip: the widest, roundest part of the outline; the thigh tapers below it.
      return [
        ellipsoid([s * 78 * k, 5 * k, 20 * k], [98 * k * h, 115 * k, 100 * k * h], IDENTITY, fat),
        tube([s * 82 * k, 20 * k, 10 * k], [s * 72 * k, 560 * k, 10 * k], 84 * k * h, 60 * k * h, fat * 0.8),
      ];
    }),
  ];
  return { solids, muCortical: MU.fat, muTrabecular: MU.muscle, textureAxis: [0, 1, 0], textured: false };
}

/** Bowel gas pockets over the upper pelvis and sacrum (present in both classes, never over the hips). */
export function bowelGas(a: PatientAnatomy, rng: Rng): Ellipsoid[] {
  const k = a.scale;
  const n = rng.int(0, 7);
  const out: Ellipsoid[] = [];
  for (let i = 0; i < n; i++) {
    const c: Vec3 = [rng.uniform(-70, 70) * k, rng.uniform(-170, -60) * k, rng.uniform(-60, 0) * k];
    const r = rng.uniform(6, 22) * k;
    out.push(ellipsoid(c, [r * rng.uniform(1, 2.2), r, r * rng.uniform(0.6, 1.2)], rotation([0, 0, 1], rng.uniform(0, Math.PI)), 0));
  }
  return out;
}

/** A tileable field of elongated blobs (mean 1): trabecular streaks when stretched along the texture axis. */
export function trabecularTexture(a: PatientAnatomy, rng: Rng): TrabecularTexture {
  const n = 256;
  const white = new Float32Array(n * n);
  for (let i = 0; i < white.length; i++) white[i] = rng.next();
  // Anisotropic box blur (long along x, short along y), wrapping at the edges so the tile repeats seamlessly.
  const lx = 7;
  const ly = 1;
  const tmp = new Float32Array(n * n);
  for (let y = 0; y < n; y++) {
    // Running sum along the row: add the sample entering the window, drop the one leaving it.
    let s = 0;
    for (let dx = -lx; dx <= lx; dx++) s += white[y * n + (dx & 255)] as number;
    for (let x = 0; x < n; x++) {
      tmp[y * n + x] = s;
      s += (white[y * n + ((x + lx + 1) & 255)] as number) - (white[y * n + ((x - lx) & 255)] as number);
    }
  }
  const tile = new Float32Array(n * n);
  let mean = 0;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      let s = 0;
      for (let dy = -ly; dy <= ly; dy++) s += tmp[((y + dy) & 255) * n + x] as number;
      tile[y * n + x] = s;
      mean += s;
    }
  }
  mean /= n * n;
  let v = 0;
  for (let i = 0; i < tile.length; i++) v += ((tile[i] as number) - mean) ** 2;
  const std = Math.sqrt(v / tile.length) || 1;
  // Osteoporotic bone has fewer, coarser trabeculae: more contrast in the texture.
  const contrast = 0.3 + 0.25 * (1.1 - a.boneDensity);
  for (let i = 0; i < tile.length; i++) tile[i] = Math.max(0.05, 1 + (contrast * ((tile[i] as number) - mean)) / std);
  return { tile, texelMm: 0.32 };
}

// Orthopaedic implants as metal solids in the femur's frame: hemiarthroplasty, dynamic hip screw,
// intramedullary nail, cannulated screws. They appear equally often in both classes, on either hip.
import type { Rng } from '../util/index.js';
import { type FemurLandmarks, type PatientAnatomy, type Side, MU } from './anatomy.js';
import { type Vec3, IDENTITY, add, axpy, cross, frameAlong, norm, normalize, scale, sub } from './geometry.js';
import type { Solid } from './projection.js';
import type { FractureType, ImplantKind, ImplantSpec } from './types.js';

export interface ImplantPart {
  readonly solid: Solid;
  readonly mu: number;
  /** A cannulated part: its lumen (radius − cortex) is empty. */
  readonly hollow?: boolean;
}

const MATERIAL_MU: Record<ImplantSpec['material'], number> = { steel: MU.steel, titanium: MU.titanium, 'cobalt-chrome': MU.cobaltChrome };

/** Fracture types that can coexist with an implant on the same hip (a replaced head cannot break at the neck). */
export function compatibleFractures(kind: ImplantKind | null): readonly FractureType[] {
  if (kind === 'hemiarthroplasty') return ['intertrochanteric', 'subtrochanteric'];
  return ['subcapital', 'transcervical', 'basicervical', 'intertrochanteric', 'subtrochanteric'];
}

export function sampleImplant(rng: Rng, side: Side): ImplantSpec {
  const kind = rng.pick(['hemiarthroplasty', 'dynamic-hip-screw', 'intramedullary-nail', 'cannulated-screws'] as const);
  const material = kind === 'hemiarthroplasty' ? (rng.bernoulli(0.6) ? 'cobalt-chrome' : 'titanium') : rng.bernoulli(0.5) ? 'steel' : 'titanium';
  return { kind, side, material };
}

const tube = (a: Vec3, b: Vec3, r0: number, r1: number, cortex = 0): Solid => ({ kind: 'tube', a, b, r0, r1, cortex });

export function implantSolids(a: PatientAnatomy, lm: FemurLandmarks, spec: ImplantSpec): ImplantPart[] {
  const mu = MATERIAL_MU[spec.material];
  const k = a.scale;
  const h = lm.headCenter;
  const parts: ImplantPart[] = [];
  const part = (solid: Solid, hollow = false, m = mu): void => {
    parts.push({ solid, mu: m, hollow });
  };
  switch (spec.kind) {
    case 'hemiarthroplasty': {
      // Bipolar head: an outer metal shell around an inner ball, on a trunnion, on a tapered stem in the canal.
      const r = lm.headRadius;
      part({ kind: 'ellipsoid', center: h, axes: [r, r, r], frame: IDENTITY, cortex: 4 }, true);
      part({ kind: 'ellipsoid', center: h, axes: [r * 0.55, r * 0.55, r * 0.55], frame: IDENTITY });
      const shoulder = add(axpy(lm.neckBase, -8 * k, lm.shaftAxis), scale(lm.lateral, 2 * k));
      part(tube(axpy(h, -r * 0.2, lm.neckAxis), axpy(lm.neckBase, 10 * k, lm.neckAxis), 6, 8));
      part(tube(axpy(lm.neckBase, 12 * k, lm.neckAxis), shoulder, 8 * k, 8.5 * k));
      part(tube(shoulder, axpy(lm.neckBase, 150 * k, lm.shaftAxis), 8.5 * k, 3.5 * k));
      break;
    }
    case 'dynamic-hip-screw': {
      // Lag screw from the lateral cortex into the head, in a barrel on a side plate held by cortical screws.
      const entry = add(axpy(lm.neckBase, 28 * k, lm.shaftAxis), scale(lm.lateral, lm.shaftRadius * 1.45));
      const dir = normalize(sub(h, entry));
      const reach = norm(sub(h, entry)) - 10 * k;
      part(tube(entry, axpy(entry, reach - 24 * k, dir), 4.2, 4.2));
      part(tube(axpy(entry, reach - 24 * k, dir), axpy(entry, reach, dir), 6.3, 5.5));
      part(tube(axpy(entry, -6, dir), axpy(entry, 38 * k, dir), 9.5, 9.5, 2.2), true);
      const plateTop = axpy(add(axpy(lm.neckBase, 28 * k, lm.shaftAxis), scale(lm.lateral, lm.shaftRadius * 1.15)), 0, lm.shaftAxis);
      const plateFrame = frameAlong(lm.shaftAxis, lm.lateral);
      part({ kind: 'ellipsoid', center: axpy(plateTop, 62 * k, lm.shaftAxis), axes: [3, 70 * k, 9], frame: plateFrame });
      for (let i = 0; i < 4; i++) {
        const at = axpy(plateTop, (38 + 26 * i) * k, lm.shaftAxis);
        part(tube(axpy(at, 4, lm.lateral), axpy(at, -2.2 * lm.shaftRadius, lm.lateral), 2.4, 2.4));
      }
      break;
    }
    case 'intramedullary-nail': {
      // Cephalomedullary nail: entry at the trochanteric tip, down the canal; a lag blade into the head.
      const tip = axpy(lm.greaterTrochanter, -20 * k, lm.shaftAxis);
      const bend = axpy(lm.neckBase, 55 * k, lm.shaftAxis);
      const end = axpy(lm.neckBase, 260 * k, lm.shaftAxis);
      part(tube(tip, bend, 8, 7.5, 5.5), true);
      part(tube(bend, end, 6, 5.5, 3.5), true);
      const entry = add(axpy(lm.neckBase, 12 * k, lm.shaftAxis), scale(lm.lateral, lm.shaftRadius * 1.6));
      const dir = normalize(sub(h, entry));
      part(tube(entry, axpy(entry, norm(sub(h, entry)) - 9 * k, dir), 5.5, 5));
      const lock = axpy(lm.neckBase, 235 * k, lm.shaftAxis);
      part(tube(axpy(lock, lm.shaftRadius * 1.3, lm.lateral), axpy(lock, -lm.shaftRadius * 1.3, lm.lateral), 2.5, 2.5));
      break;
    }
    case 'cannulated-screws': {
      // Three parallel screws in an inverted triangle along the neck, from the lateral cortex to the subchondral head.
      const up = normalize(cross(lm.neckAxis, [0, 0, 1]));
      const ap = normalize(cross(up, lm.neckAxis));
      const offsets: Vec3[] = [scale(up, -0.38 * lm.headRadius), add(scale(up, 0.25 * lm.headRadius), scale(ap, 0.33 * lm.headRadius)), add(scale(up, 0.25 * lm.headRadius), scale(ap, -0.33 * lm.headRadius))];
      for (const o of offsets) {
        const tipPoint = add(axpy(h, -6 * k, lm.neckAxis), scale(o, 0.8));
        const base = add(axpy(lm.neckBase, -20 * k, lm.neckAxis), o);
        part(tube(base, tipPoint, 3.3, 3.3, 1.8), true);
        part(tube(axpy(base, -3, lm.neckAxis), base, 6, 6));
      }
      break;
    }
  }
  return parts;
}

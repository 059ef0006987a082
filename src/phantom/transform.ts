// Rigid motion of solids and bones: used for fracture fragments and for the leg's pose in each view.
// Planes move with their bone so a fragment keeps its own fracture surface.
import { type RigidTransform, type Vec3, add, applyRigid, dot, mulMM, mulMV } from './geometry.js';
import type { BoneGroup, ClipPlane, Solid } from './projection.js';

export function transformSolid(s: Solid, t: RigidTransform): Solid {
  if (s.kind === 'ellipsoid') return { ...s, center: applyRigid(t, s.center), frame: mulMM(t.rotation, s.frame) };
  return { ...s, a: applyRigid(t, s.a), b: applyRigid(t, s.b) };
}

/** n·p ≤ d becomes (Rn)·p' ≤ d − n·q + (Rn)·(q + t) for p' = R(p − q) + q + t. */
export function transformClip(c: ClipPlane, t: RigidTransform): ClipPlane {
  const n = mulMV(t.rotation, c.normal);
  return { ...c, normal: n, offset: c.offset - dot(c.normal, t.pivot) + dot(n, add(t.pivot, t.translation)) };
}

export function transformGroup(g: BoneGroup, t: RigidTransform): BoneGroup {
  const dir = (v: Vec3): Vec3 => mulMV(t.rotation, v);
  return {
    ...g,
    solids: g.solids.map((s) => transformSolid(s, t)),
    ...(g.holes === undefined ? {} : { holes: g.holes.map((s) => transformSolid(s, t)) }),
    ...(g.clips === undefined ? {} : { clips: g.clips.map((c) => transformClip(c, t)) }),
    textureAxis: dir(g.textureAxis),
    ...(g.fade === undefined ? {} : { fade: { ...g.fade, origin: applyRigid(t, g.fade.origin), axis: dir(g.fade.axis) } }),
  };
}

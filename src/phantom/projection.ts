// Parallel-beam projection of analytic solids: exact chord lengths of ellipsoids and tapered tubes along each
// detector ray, unions of solids per bone (no double counting), cortical shells, clip planes for fracture fragments.
import { type Mat3, type Vec3, dot, mulMV } from './geometry.js';

export interface Ellipsoid {
  readonly kind: 'ellipsoid';
  readonly center: Vec3;
  /** Semi-axes along the frame's columns, mm. */
  readonly axes: Vec3;
  /** Columns are the local axes in the patient frame. */
  readonly frame: Mat3;
  /** Cortical shell thickness, mm (bone groups only). */
  readonly cortex?: number;
}

/** A straight tube from `a` to `b` whose radius tapers linearly from `r0` to `r1`; flat ends. */
export interface Tube {
  readonly kind: 'tube';
  readonly a: Vec3;
  readonly b: Vec3;
  readonly r0: number;
  readonly r1: number;
  readonly cortex?: number;
  /** Cortex thickness at `b` when it differs from that at `a` (cortex thickening down the shaft). */
  readonly cortexEnd?: number;
}

export type Solid = Ellipsoid | Tube;

/** Keeps the points with normal·p ≤ offset + jag(s), s = position along the fracture line in the image plane. */
export interface ClipPlane {
  readonly normal: Vec3;
  readonly offset: number;
  readonly jag?: Jag;
}

/** An irregular fracture edge: two sine waves (mm) along the line. */
export interface Jag {
  readonly amplitude1: number;
  readonly wavelength1: number;
  readonly phase1: number;
  readonly amplitude2: number;
  readonly wavelength2: number;
  readonly phase2: number;
}

/** How the patient is seen: rotation patient → view (rows u, v, beam w) and the image's field. */
export interface ViewFrame {
  readonly size: number;
  readonly mmPerPx: number;
  readonly rotation: Mat3;
  /** View-plane mm at the image centre. */
  readonly centerU: number;
  readonly centerV: number;
}

/** The trabecular texture of one patient: a tileable 256×256 field of mean 1. */
export interface TrabecularTexture {
  readonly tile: Float32Array;
  readonly texelMm: number;
}

export interface BoneGroup {
  readonly solids: readonly Solid[];
  /** Cavities cut out of the bone (e.g. the acetabular socket). */
  readonly holes?: readonly Solid[];
  readonly clips?: readonly ClipPlane[];
  /** Attenuation per mm of cortical bone and of trabecular bone at texture value 1. */
  readonly muCortical: number;
  readonly muTrabecular: number;
  /** Orientation of the trabecular streaks in the patient frame. */
  readonly textureAxis: Vec3;
  /** False for soft tissue: the interior is uniform. */
  readonly textured?: boolean;
  /** Trabecular density fades along this axis (the medullary canal of the shaft). */
  readonly fade?: { readonly origin: Vec3; readonly axis: Vec3; readonly start: number; readonly end: number; readonly floor: number };
}

export interface PixelBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

// ----- compiled (view-space) forms -----

interface CompiledSolid {
  readonly ellipsoid: boolean;
  // ellipsoid: centre and quadratic forms (outer, inner)
  readonly c: Float64Array;
  readonly qo: Float64Array;
  readonly qi: Float64Array | null;
  // tube: start, unit axis, length, radii
  readonly len: number;
  readonly r0: number;
  readonly r1: number;
  readonly cortex: number;
  readonly cortexEnd: number;
  readonly box: PixelBox;
}

interface CompiledClip {
  readonly nu: number;
  readonly nv: number;
  readonly nw: number;
  readonly d: number;
  readonly jag: Jag | undefined;
  // in-plane direction of the fracture line, for the jag
  readonly lu: number;
  readonly lv: number;
}

const toView = (frame: ViewFrame, p: Vec3): Vec3 => mulMV(frame.rotation, p);

function pixelOf(frame: ViewFrame, u: number, v: number): [number, number] {
  return [(u - frame.centerU) / frame.mmPerPx + frame.size / 2 - 0.5, (v - frame.centerV) / frame.mmPerPx + frame.size / 2 - 0.5];
}

function boxFromMm(frame: ViewFrame, u0: number, u1: number, v0: number, v1: number): PixelBox {
  const [x0, y0] = pixelOf(frame, u0, v0);
  const [x1, y1] = pixelOf(frame, u1, v1);
  return {
    x0: Math.max(0, Math.floor(x0)),
    y0: Math.max(0, Math.floor(y0)),
    x1: Math.min(frame.size - 1, Math.ceil(x1)),
    y1: Math.min(frame.size - 1, Math.ceil(y1)),
  };
}

/** Quadratic form of an ellipsoid in view space: entries xx, xy, xz, yy, yz, zz of R·diag(1/a²)·Rᵀ. */
function quadratic(frame: ViewFrame, e: Ellipsoid, shrink: number): Float64Array | null {
  const a = e.axes[0] - shrink;
  const b = e.axes[1] - shrink;
  const c = e.axes[2] - shrink;
  if (a <= 0.2 || b <= 0.2 || c <= 0.2) return null;
  const inv = [1 / (a * a), 1 / (b * b), 1 / (c * c)];
  // Local axes in view space: columns of V·F.
  const cols: Vec3[] = [0, 1, 2].map((k) => toView(frame, [e.frame[k] as number, e.frame[3 + k] as number, e.frame[6 + k] as number]));
  const q = new Float64Array(6);
  const idx: [number, number][] = [
    [0, 0],
    [0, 1],
    [0, 2],
    [1, 1],
    [1, 2],
    [2, 2],
  ];
  idx.forEach(([i, j], n) => {
    let s = 0;
    for (let k = 0; k < 3; k++) s += (cols[k] as Vec3)[i] * (cols[k] as Vec3)[j] * (inv[k] as number);
    q[n] = s;
  });
  return q;
}

function compileSolid(frame: ViewFrame, s: Solid, margin = 0): CompiledSolid {
  const cortex = s.cortex ?? 0;
  if (s.kind === 'ellipsoid') {
    const c = toView(frame, s.center);
    const qo = quadratic(frame, s, 0) as Float64Array;
    // Projected half-extents: sqrt of the diagonal of the inverse form, R·diag(a²)·Rᵀ.
    const cols: Vec3[] = [0, 1, 2].map((k) => toView(frame, [s.frame[k] as number, s.frame[3 + k] as number, s.frame[6 + k] as number]));
    let eu = 0;
    let ev = 0;
    for (let k = 0; k < 3; k++) {
      const a2 = (s.axes[k] as number) ** 2;
      eu += (cols[k] as Vec3)[0] ** 2 * a2;
      ev += (cols[k] as Vec3)[1] ** 2 * a2;
    }
    eu = Math.sqrt(eu) + margin;
    ev = Math.sqrt(ev) + margin;
    return {
      ellipsoid: true,
      c: new Float64Array(c),
      qo,
      qi: cortex > 0 ? quadratic(frame, s, cortex) : null,
      len: 0,
      r0: 0,
      r1: 0,
      cortex,
      cortexEnd: cortex,
      box: boxFromMm(frame, c[0] - eu, c[0] + eu, c[1] - ev, c[1] + ev),
    };
  }
  const a = toView(frame, s.a);
  const b = toView(frame, s.b);
  const d: Vec3 = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
  const len = Math.sqrt(dot(d, d));
  const r = Math.max(s.r0, s.r1) + margin;
  return {
    ellipsoid: false,
    c: new Float64Array([a[0], a[1], a[2], d[0] / len, d[1] / len, d[2] / len]),
    qo: new Float64Array(0),
    qi: null,
    len,
    r0: s.r0,
    r1: s.r1,
    cortex,
    cortexEnd: s.cortexEnd ?? cortex,
    box: boxFromMm(frame, Math.min(a[0], b[0]) - r, Math.max(a[0], b[0]) + r, Math.min(a[1], b[1]) - r, Math.max(a[1], b[1]) + r),
  };
}

function compileClip(frame: ViewFrame, c: ClipPlane): CompiledClip {
  const n = toView(frame, c.normal);
  const h = Math.hypot(n[0], n[1]);
  return { nu: n[0], nv: n[1], nw: n[2], d: c.offset, jag: c.jag, lu: h > 1e-9 ? -n[1] / h : 1, lv: h > 1e-9 ? n[0] / h : 0 };
}

// Chord interval [w1, w2] of the ray (u, v) through a solid, written to out[k], out[k+1]; returns false if missed.
function ellipsoidChord(q: Float64Array, c: Float64Array, u: number, v: number, out: Float64Array, k: number): boolean {
  const dx = u - (c[0] as number);
  const dy = v - (c[1] as number);
  const azz = q[5] as number;
  const b = (q[2] as number) * dx + (q[4] as number) * dy;
  const cc = (q[0] as number) * dx * dx + 2 * (q[1] as number) * dx * dy + (q[3] as number) * dy * dy - 1;
  const disc = b * b - azz * cc;
  if (disc <= 0) return false;
  const sq = Math.sqrt(disc);
  out[k] = (c[2] as number) + (-b - sq) / azz;
  out[k + 1] = (c[2] as number) + (-b + sq) / azz;
  return true;
}

function tubeChord(s: CompiledSolid, inner: boolean, u: number, v: number, out: Float64Array, k: number): boolean {
  const c = s.c;
  const dx = u - (c[0] as number);
  const dy = v - (c[1] as number);
  const ux = c[3] as number;
  const uy = c[4] as number;
  const uz = c[5] as number;
  const kk = dx * ux + dy * uy;
  const q = 1 - uz * uz;
  const len = s.len;
  let s1: number;
  let s2: number;
  if (q < 1e-9) {
    // Tube along the beam: a disc in projection.
    const r = Math.max(s.r0, s.r1) - (inner ? Math.max(s.cortex, s.cortexEnd) : 0);
    if (dx * dx + dy * dy > r * r) return false;
    s1 = -1e9;
    s2 = 1e9;
  } else {
    let tMid = kk + ((uz * kk) / q) * uz;
    if (tMid < 0) tMid = 0;
    else if (tMid > len) tMid = len;
    const f = tMid / len;
    const r = s.r0 + (s.r1 - s.r0) * f - (inner ? s.cortex + (s.cortexEnd - s.cortex) * f : 0);
    if (r <= 0) return false;
    const bb = uz * kk;
    const disc = bb * bb - q * (dx * dx + dy * dy - kk * kk - r * r);
    if (disc <= 0) return false;
    const sq = Math.sqrt(disc);
    s1 = (bb - sq) / q;
    s2 = (bb + sq) / q;
  }
  // Flat ends: the axial position t(s) = kk + s·uz must lie in [0, len].
  if (uz > 1e-9) {
    const lo = -kk / uz;
    const hi = (len - kk) / uz;
    if (lo > s1) s1 = lo;
    if (hi < s2) s2 = hi;
  } else if (uz < -1e-9) {
    const lo = (len - kk) / uz;
    const hi = -kk / uz;
    if (lo > s1) s1 = lo;
    if (hi < s2) s2 = hi;
  } else if (kk < 0 || kk > len) {
    return false;
  }
  if (s2 <= s1) return false;
  out[k] = (c[2] as number) + s1;
  out[k + 1] = (c[2] as number) + s2;
  return true;
}

function chord(s: CompiledSolid, inner: boolean, u: number, v: number, out: Float64Array, k: number): boolean {
  if (s.ellipsoid) {
    const q = inner ? s.qi : s.qo;
    return q !== null && ellipsoidChord(q, s.c, u, v, out, k);
  }
  if (inner && s.cortex <= 0 && s.cortexEnd <= 0) return false;
  return tubeChord(s, inner, u, v, out, k);
}

/** Sorts n intervals (pairs) in place by start and merges them; returns the merged count. */
function mergeIntervals(iv: Float64Array, n: number): number {
  for (let i = 1; i < n; i++) {
    const a = iv[2 * i] as number;
    const b = iv[2 * i + 1] as number;
    let j = i - 1;
    while (j >= 0 && (iv[2 * j] as number) > a) {
      iv[2 * j + 2] = iv[2 * j] as number;
      iv[2 * j + 3] = iv[2 * j + 1] as number;
      j--;
    }
    iv[2 * j + 2] = a;
    iv[2 * j + 3] = b;
  }
  let m = 0;
  for (let i = 0; i < n; i++) {
    const a = iv[2 * i] as number;
    const b = iv[2 * i + 1] as number;
    if (m > 0 && a <= (iv[2 * m - 1] as number)) {
      if (b > (iv[2 * m - 1] as number)) iv[2 * m - 1] = b;
    } else {
      iv[2 * m] = a;
      iv[2 * m + 1] = b;
      m++;
    }
  }
  return m;
}

function totalLength(iv: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += (iv[2 * i + 1] as number) - (iv[2 * i] as number);
  return s;
}

/** Length of (merged set A) ∩ (merged set B). */
function overlapLength(a: Float64Array, na: number, b: Float64Array, nb: number): number {
  let i = 0;
  let j = 0;
  let s = 0;
  while (i < na && j < nb) {
    const lo = Math.max(a[2 * i] as number, b[2 * j] as number);
    const hi = Math.min(a[2 * i + 1] as number, b[2 * j + 1] as number);
    if (hi > lo) s += hi - lo;
    if ((a[2 * i + 1] as number) < (b[2 * j + 1] as number)) i++;
    else j++;
  }
  return s;
}

function jagAt(j: Jag, s: number): number {
  return j.amplitude1 * Math.sin((2 * Math.PI * s) / j.wavelength1 + j.phase1) + j.amplitude2 * Math.sin((2 * Math.PI * s) / j.wavelength2 + j.phase2);
}

/** The pixel box a group covers (union of its solids' boxes). */
export function groupBox(frame: ViewFrame, group: BoneGroup): PixelBox | null {
  let box: PixelBox | null = null;
  for (const s of group.solids) box = unionBox(box, compileSolid(frame, s).box);
  return box;
}

export function unionBox(a: PixelBox | null, b: PixelBox | null): PixelBox | null {
  if (a === null) return b;
  if (b === null) return a;
  return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
}

/**
 * The pixel columns [lo, hi] a solid can cover on the row at view height v (lo > hi when none): the exact
 * projected ellipse for ellipsoids, the stadium around the projected axis for tubes. Keeps loops off empty pixels.
 */
function rowSpan(frame: ViewFrame, s: CompiledSolid, v: number, out: Int32Array, k: number): void {
  let lo = Infinity;
  let hi = -Infinity;
  const c = s.c;
  if (s.ellipsoid) {
    const q = s.qo;
    const dy = v - (c[1] as number);
    const azz = q[5] as number;
    const a2 = (q[2] as number) ** 2 - azz * (q[0] as number);
    const b1 = 2 * dy * ((q[2] as number) * (q[4] as number) - azz * (q[1] as number));
    const c0 = ((q[4] as number) ** 2 - azz * (q[3] as number)) * dy * dy + azz;
    const disc = b1 * b1 - 4 * a2 * c0;
    if (disc >= 0 && a2 < 0) {
      const sq = Math.sqrt(disc);
      const r1 = (-b1 + sq) / (2 * a2);
      const r2 = (-b1 - sq) / (2 * a2);
      lo = (c[0] as number) + Math.min(r1, r2);
      hi = (c[0] as number) + Math.max(r1, r2);
    }
  } else {
    const r = Math.max(s.r0, s.r1);
    const ax = c[0] as number;
    const ay = c[1] as number;
    const dx = (c[3] as number) * s.len;
    const dy = (c[4] as number) * s.len;
    const bx = ax + dx;
    const by = ay + dy;
    for (const [px, py] of [
      [ax, ay],
      [bx, by],
    ] as const) {
      const h = r * r - (v - py) * (v - py);
      if (h >= 0) {
        const w = Math.sqrt(h);
        lo = Math.min(lo, px - w);
        hi = Math.max(hi, px + w);
      }
    }
    const d = Math.hypot(dx, dy);
    if (d > 1e-6) {
      const nx = -dy / d;
      const ny = dx / d;
      let bLo = -Infinity;
      let bHi = Infinity;
      const ry = v - ay;
      if (Math.abs(nx) > 1e-9) {
        const e1 = (-r - ry * ny) / nx;
        const e2 = (r - ry * ny) / nx;
        bLo = Math.max(bLo, ax + Math.min(e1, e2));
        bHi = Math.min(bHi, ax + Math.max(e1, e2));
      } else if (Math.abs(ry * ny) > r) bHi = -Infinity;
      if (Math.abs(dx) > 1e-9) {
        const e1 = -(ry * dy) / dx;
        const e2 = (d * d - ry * dy) / dx;
        bLo = Math.max(bLo, ax + Math.min(e1, e2));
        bHi = Math.min(bHi, ax + Math.max(e1, e2));
      } else if (ry * dy < 0 || ry * dy > d * d) bHi = -Infinity;
      if (bHi >= bLo) {
        lo = Math.min(lo, bLo);
        hi = Math.max(hi, bHi);
      }
    }
  }
  if (hi < lo) {
    out[k] = 1;
    out[k + 1] = 0;
    return;
  }
  const x0 = Math.floor((lo - frame.centerU) / frame.mmPerPx + frame.size / 2 - 0.5) - 1;
  const x1 = Math.ceil((hi - frame.centerU) / frame.mmPerPx + frame.size / 2 - 0.5) + 1;
  out[k] = Math.max(x0, s.box.x0);
  out[k + 1] = Math.min(x1, s.box.x1);
}

const MAX_SOLIDS = 32;

/**
 * Adds one bone's line integral to `target` (size×size): cortical attenuation over the shell, textured trabecular
 * attenuation inside, each solid counted once where solids overlap.
 */
export function projectBoneGroup(frame: ViewFrame, group: BoneGroup, texture: TrabecularTexture, target: Float32Array): void {
  const solids = group.solids.map((s) => compileSolid(frame, s));
  const holes = (group.holes ?? []).map((s) => compileSolid(frame, s));
  const clips = (group.clips ?? []).map((c) => compileClip(frame, c));
  if (solids.length > MAX_SOLIDS) throw new RangeError(`projectBoneGroup: at most ${MAX_SOLIDS} solids`);
  let box: PixelBox | null = null;
  for (const s of solids) box = unionBox(box, s.box);
  if (box === null || box.x1 < box.x0 || box.y1 < box.y0) return;
  const { size, mmPerPx } = frame;
  const outer = new Float64Array(2 * MAX_SOLIDS);
  const inner = new Float64Array(2 * MAX_SOLIDS);
  const hole = new Float64Array(2 * MAX_SOLIDS);
  const tmp = new Float64Array(2);
  const ta = toView(frame, group.textureAxis);
  const th = Math.hypot(ta[0], ta[1]) || 1;
  const tcu = ta[0] / th / texture.texelMm;
  const tcv = ta[1] / th / texture.texelMm;
  const tile = texture.tile;
  const fade = group.fade;
  let fo: Vec3 = [0, 0, 0];
  let fa: Vec3 = [0, 0, 0];
  if (fade !== undefined) {
    fo = toView(frame, fade.origin);
    fa = toView(frame, fade.axis);
    const h = Math.hypot(fa[0], fa[1]) || 1;
    fa = [fa[0] / h, fa[1] / h, 0];
  }
  const textured = group.textured !== false;
  const muC = group.muCortical;
  const muT = group.muTrabecular;
  const spans = new Int32Array(2 * solids.length);
  const ns = solids.length;
  for (let py = box.y0; py <= box.y1; py++) {
    const v = frame.centerV + (py + 0.5 - size / 2) * mmPerPx;
    let rowLo = size;
    let rowHi = -1;
    for (let i = 0; i < ns; i++) {
      const sb = (solids[i] as CompiledSolid).box;
      if (py < sb.y0 || py > sb.y1) {
        spans[2 * i] = 1;
        spans[2 * i + 1] = 0;
        continue;
      }
      rowSpan(frame, solids[i] as CompiledSolid, v, spans, 2 * i);
      if ((spans[2 * i] as number) <= (spans[2 * i + 1] as number)) {
        rowLo = Math.min(rowLo, spans[2 * i] as number);
        rowHi = Math.max(rowHi, spans[2 * i + 1] as number);
      }
    }
    for (let px = rowLo; px <= rowHi; px++) {
      const u = frame.centerU + (px + 0.5 - size / 2) * mmPerPx;
      // The clip planes restrict the ray to [wLo, wHi].
      let wLo = -1e9;
      let wHi = 1e9;
      for (const c of clips) {
        const rhs = c.d + (c.jag === undefined ? 0 : jagAt(c.jag, u * c.lu + v * c.lv)) - c.nu * u - c.nv * v;
        if (c.nw > 1e-9) wHi = Math.min(wHi, rhs / c.nw);
        else if (c.nw < -1e-9) wLo = Math.max(wLo, rhs / c.nw);
        else if (rhs < 0) wHi = -1e9;
      }
      if (wHi <= wLo) continue;
      let no = 0;
      let ni = 0;
      for (let i = 0; i < ns; i++) {
        if (px < (spans[2 * i] as number) || px > (spans[2 * i + 1] as number)) continue;
        const s = solids[i] as CompiledSolid;
        if (!chord(s, false, u, v, tmp, 0)) continue;
        let a0 = Math.max(tmp[0] as number, wLo);
        let a1 = Math.min(tmp[1] as number, wHi);
        if (a1 > a0) {
          outer[2 * no] = a0;
          outer[2 * no + 1] = a1;
          no++;
        }
        if (chord(s, true, u, v, tmp, 0)) {
          a0 = Math.max(tmp[0] as number, wLo);
          a1 = Math.min(tmp[1] as number, wHi);
          if (a1 > a0) {
            inner[2 * ni] = a0;
            inner[2 * ni + 1] = a1;
            ni++;
          }
        }
      }
      if (no === 0) continue;
      no = mergeIntervals(outer, no);
      ni = mergeIntervals(inner, ni);
      let lenOuter = totalLength(outer, no);
      let lenInner = totalLength(inner, ni);
      if (holes.length > 0) {
        let nh = 0;
        for (const h of holes) {
          const b = h.box;
          if (px < b.x0 || px > b.x1 || py < b.y0 || py > b.y1) continue;
          if (chord(h, false, u, v, hole, 2 * nh)) nh++;
        }
        if (nh > 0) {
          nh = mergeIntervals(hole, nh);
          lenOuter -= overlapLength(outer, no, hole, nh);
          lenInner -= overlapLength(inner, ni, hole, nh);
        }
      }
      let trab = 0;
      if (lenInner > 0 && !textured) {
        trab = muT;
      } else if (lenInner > 0) {
        const ti = Math.floor(u * tcu + v * tcv) & 255;
        const tj = Math.floor(-u * tcv + v * tcu) & 255;
        trab = muT * (tile[ti + (tj << 8)] as number);
        if (fade !== undefined) {
          const t = (u - fo[0]) * fa[0] + (v - fo[1]) * fa[1];
          if (t > fade.start) trab *= t >= fade.end ? fade.floor : 1 - ((1 - fade.floor) * (t - fade.start)) / (fade.end - fade.start);
        }
      }
      const idx = py * size + px;
      target[idx] = (target[idx] as number) + muC * (lenOuter - lenInner) + trab * lenInner;
    }
  }
}

/** Adds μ × chord length of a plain solid (soft tissue, gas, metal); a `hollow` solid subtracts its inner lumen. */
export function projectSolid(frame: ViewFrame, solid: Solid, mu: number, target: Float32Array, hollow = false): void {
  const s = compileSolid(frame, solid);
  const b = s.box;
  const { size, mmPerPx } = frame;
  const tmp = new Float64Array(2);
  const span = new Int32Array(2);
  for (let py = b.y0; py <= b.y1; py++) {
    const v = frame.centerV + (py + 0.5 - size / 2) * mmPerPx;
    const row = py * size;
    rowSpan(frame, s, v, span, 0);
    for (let px = span[0] as number; px <= (span[1] as number); px++) {
      const u = frame.centerU + (px + 0.5 - size / 2) * mmPerPx;
      if (!chord(s, false, u, v, tmp, 0)) continue;
      let len = (tmp[1] as number) - (tmp[0] as number);
      if (hollow && chord(s, true, u, v, tmp, 0)) len -= (tmp[1] as number) - (tmp[0] as number);
      target[row + px] = (target[row + px] as number) + mu * len;
    }
  }
}

/** Projects a patient-frame point to fractional pixel coordinates. */
export function projectPoint(frame: ViewFrame, p: Vec3): [number, number] {
  const q = toView(frame, p);
  return pixelOf(frame, q[0], q[1]);
}

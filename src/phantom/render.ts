// renderImage: one radiograph from an image spec — anatomy, fracture, implants and markers projected to line
// integrals, then exposed by the detector. Pure: the same spec always gives the same pixels and truth.
import { Rng } from '../util/index.js';
import { type Side, acetabularRoof, bowelGas, femurGroup, femurLandmarks, hipBoneGroup, softTissueGroup, spineGroups, trabecularTexture, MU } from './anatomy.js';
import { blurReach, boxBlur, expose, upsample } from './detector.js';
import { applyFracture, fractureStrokes } from './fractures.js';
import { transformGroup, transformSolid } from './transform.js';
import { implantSolids } from './implants.js';
import { drawMarkers, markerBoxes, type MarkerTruth } from './markers.js';
import { type PixelBox, type ViewFrame, projectBoneGroup, projectPoint, projectSolid } from './projection.js';
import type { FractureTruth, ImageSpec, RenderedImage, RenderOptions } from './types.js';
import { legPose, viewFrame } from './views.js';
import { encodeMaskRle } from './rle.js';
import { scratchF32, scratchU8 } from './scratch.js';

const SOFT_TISSUE_DOWNSAMPLE = 4;

/** The beam geometry an image spec is rendered with (for headers such as PatientOrientation). */
export function imageFrame(spec: ImageSpec): ViewFrame {
  return viewFrame(spec.view, spec.anatomy, femurLandmarks(spec.anatomy, spec.view.side), spec.size);
}

/** Where the image's burned-in markers (lead letter with holder, ruler, calibration ball) lie, in pixels. */
export function markerTruth(spec: ImageSpec): MarkerTruth[] {
  return markerBoxes(imageFrame(spec), spec.markers, collimatedField(spec.size, spec.view.collimation));
}

/** Renders one image. With `withoutFracture`, the same patient and exposure, noise included, minus the fracture. */
export function renderImage(spec: ImageSpec, options: RenderOptions = {}): RenderedImage {
  const { size, anatomy, view } = spec;
  const applied = spec.fracture !== null && spec.fractureApplied && options.withoutFracture !== true;
  const index = femurLandmarks(anatomy, view.side);
  const frame = viewFrame(view, anatomy, index, size);
  const texture = trabecularTexture(anatomy, new Rng(anatomy.textureSeed));
  const line = scratchF32('line', size * size);

  // Soft tissue is smooth: project it at a quarter of the resolution, then upsample.
  const lowSize = Math.max(16, Math.ceil(size / SOFT_TISSUE_DOWNSAMPLE));
  const lowFrame: ViewFrame = { ...frame, size: lowSize, mmPerPx: (frame.mmPerPx * size) / lowSize };
  const lowSoft = new Float32Array(lowSize * lowSize);
  projectBoneGroup(lowFrame, softTissueGroup(anatomy), texture, lowSoft);
  upsample(lowSoft, lowSize, size, line);
  boxBlur(lowSoft, lowSize, Math.max(1, Math.round(lowSize / 24)));
  const softSmooth = upsample(lowSoft, lowSize, size, scratchF32('softSmooth', size * size));

  const lateralCrossTable = view.kind === 'LATERAL_HIP' && view.lateralStyle === 'cross-table';
  // A cross-table lateral sees only the index hip (the other leg is lifted out of the beam).
  const sides: Side[] = lateralCrossTable ? [view.side] : ['R', 'L'];
  for (const gas of bowelGas(anatomy, new Rng(anatomy.gasSeed))) projectSolid(frame, gas, MU.gas, line);
  if (!lateralCrossTable) for (const g of spineGroups(anatomy)) projectBoneGroup(frame, g, texture, line);
  for (const side of sides) {
    projectBoneGroup(frame, hipBoneGroup(anatomy, side), texture, line);
    projectBoneGroup(frame, acetabularRoof(anatomy, side), texture, line);
  }

  // Femora: the index side carries the fracture (when applied) and the leg pose of this view.
  let fractureTruth: FractureTruth | null = null;
  for (const side of sides) {
    const lm = side === view.side ? index : femurLandmarks(anatomy, side);
    const pose = side === view.side ? legPose(view, lm) : { rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1] as const, pivot: lm.headCenter, translation: [0, 0, 0] as const };
    const implantsHere = spec.implants.filter((im) => im.side === side);
    const resected = implantsHere.some((im) => im.kind === 'hemiarthroplasty');
    const intact = transformGroup(femurGroup(anatomy, lm, { resected }), pose);
    if (side === view.side && spec.fracture !== null) {
      const fragments = applyFracture(femurGroup(anatomy, lm, { resected }), lm, spec.fracture).map((g) => transformGroup(g, pose));
      // Ground truth: where the fracture changes the noise-free projection, grown by the blur's reach.
      const intactLine = scratchF32('intact', size * size);
      const fracturedLine = scratchF32('fractured', size * size);
      projectBoneGroup(frame, intact, texture, intactLine);
      for (const g of fragments) projectBoneGroup(frame, g, texture, fracturedLine);
      fractureTruth = fractureSupport(intactLine, fracturedLine, size, blurReach(spec.detector), spec);
      const chosen = applied ? fracturedLine : intactLine;
      for (let i = 0; i < line.length; i++) line[i] = (line[i] as number) + (chosen[i] as number);
      if (fractureTruth !== null) {
        const strokes = fractureStrokes(lm, spec.fracture).map((p) => projectPoint(frame, transformPoint(pose, p)));
        fractureTruth = { ...fractureTruth, line: strokes };
      }
    } else {
      projectBoneGroup(frame, intact, texture, line);
    }
    for (const im of implantsHere) {
      for (const part of implantSolids(anatomy, lm, im)) projectSolid(frame, transformSolid(part.solid, pose), part.mu, line, part.hollow === true);
    }
  }

  const field = collimatedField(size, view.collimation);
  drawMarkers(line, frame, spec.markers, field);
  const pixels = expose({ lineIntegral: line, softTissue: softSmooth, size, field }, spec.detector, new Rng(spec.detector.noiseSeed));
  return {
    width: size,
    height: size,
    pixels,
    bitsStored: spec.detector.bitsStored,
    photometric: spec.detector.monochrome1 ? 'MONOCHROME1' : 'MONOCHROME2',
    pixelSpacingMm: frame.mmPerPx,
    label: applied ? 1 : 0,
    fractures: applied && fractureTruth !== null ? [fractureTruth] : [],
    candidateRegion: fractureTruth,
  };
}

function transformPoint(pose: { rotation: readonly number[]; pivot: readonly number[]; translation: readonly number[] }, p: readonly [number, number, number]): [number, number, number] {
  const r = pose.rotation;
  const q = [p[0] - (pose.pivot[0] as number), p[1] - (pose.pivot[1] as number), p[2] - (pose.pivot[2] as number)];
  return [0, 1, 2].map((i) => (r[3 * i] as number) * (q[0] as number) + (r[3 * i + 1] as number) * (q[1] as number) + (r[3 * i + 2] as number) * (q[2] as number) + (pose.pivot[i] as number) + (pose.translation[i] as number)) as [number, number, number];
}

function collimatedField(size: number, c: readonly [number, number, number, number]): [number, number, number, number] {
  return [Math.round(c[0] * size), Math.round(c[1] * size), size - Math.round(c[2] * size), size - Math.round(c[3] * size)];
}

/**
 * The fracture's footprint: pixels where the fractured femur's projection differs from the intact one, grown by
 * the blur reach. Computed for every image, fractured or not, so a negative image has the region its fracture
 * would have had (tests mask the same region in both classes).
 */
function fractureSupport(a: Float32Array, b: Float32Array, size: number, reach: number, spec: ImageSpec): FractureTruth | null {
  const mask = scratchU8('mask', size * size);
  let box: PixelBox | null = null;
  let area = 0;
  for (let i = 0; i < a.length; i++) {
    if ((a[i] as number) !== (b[i] as number)) {
      mask[i] = 1;
      area++;
      const x = i % size;
      const y = (i - x) / size;
      if (box === null) box = { x0: x, y0: y, x1: x, y1: y };
      else {
        if (x < box.x0) box.x0 = x;
        if (x > box.x1) box.x1 = x;
        if (y < box.y0) box.y0 = y;
        if (y > box.y1) box.y1 = y;
      }
    }
  }
  if (box === null || spec.fracture === null) return null;
  const grown = { x0: Math.max(0, box.x0 - reach), y0: Math.max(0, box.y0 - reach), x1: Math.min(size - 1, box.x1 + reach), y1: Math.min(size - 1, box.y1 + reach) };
  return {
    type: spec.fracture.type,
    side: spec.view.side,
    displaced: spec.fracture.displaced,
    displacement: spec.fracture.displacement,
    box: [grown.x0, grown.y0, grown.x1 + 1, grown.y1 + 1],
    mask: encodeMaskRle(mask, size, size),
    maskArea: area,
    line: [],
  };
}

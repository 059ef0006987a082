// The hip region of interest of a phantom image: a square field around the proximal femur of the index side,
// placed from the anatomy alone (what a hip localiser would find), never from the fracture, so it cannot leak the
// label. The cascade the study proposed (localise the hip, then classify the crop) trains on it.
import { femurLandmarks } from './anatomy.js';
import { applyRigid, scale, add } from './geometry.js';
import { projectPoint } from './projection.js';
import { imageFrame } from './render.js';
import type { ImageSpec } from './types.js';
import { legPose } from './views.js';

/** Side of the hip field in millimetres at the detector: femoral head to below the lesser trochanter. */
export const HIP_ROI_MM = 180;

/**
 * [x0, y0, x1, y1] in image pixels (x1/y1 exclusive; may reach past the image edge), centred midway between the
 * femoral head and the lesser trochanter as posed in this view.
 */
export function hipRoi(spec: ImageSpec, fieldMm = HIP_ROI_MM): [number, number, number, number] {
  const lm = femurLandmarks(spec.anatomy, spec.view.side);
  const pose = legPose(spec.view, lm);
  const frame = imageFrame(spec);
  const centre = projectPoint(frame, applyRigid(pose, scale(add(lm.headCenter, lm.lesserTrochanter), 0.5)));
  const half = fieldMm / frame.mmPerPx / 2;
  const r = (v: number): number => Math.round(v * 10) / 10;
  return [r(centre[0] - half), r(centre[1] - half), r(centre[0] + half), r(centre[1] + half)];
}

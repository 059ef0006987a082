// One cohort image from plan to file bytes: render, build headers, encode DICOM, summarise the truth.
// Shared by the worker threads and the single-threaded path so both write identical bytes.
import { imageHeaders, SOP_CLASS, derivedUid } from './dicomHeaders.js';
import { encodeDicomFile } from './dicomWriter.js';
import type { PlannedImage } from './plan.js';
import { toDisplay8 } from './preview.js';
import { imageFrame, renderImage } from './render.js';
import type { FractureTruth } from './types.js';

export interface EncodedImage {
  readonly index: number;
  readonly sopInstanceUid: string;
  readonly bytes: Uint8Array;
  readonly photometric: 'MONOCHROME1' | 'MONOCHROME2';
  readonly fractures: readonly FractureTruth[];
  readonly candidateBox: readonly [number, number, number, number] | null;
  /** An 8-bit preview (display orientation, MONOCHROME2) when asked for, for the contact sheet. */
  readonly preview: Uint8Array | null;
}

export function encodeImage(seed: number, image: PlannedImage, withPreview: boolean): EncodedImage {
  const rendered = renderImage(image.spec);
  const frame = imageFrame(image.spec);
  const sopInstanceUid = derivedUid(seed, 'instance', image.patientIndex, image.index);
  const bytes = encodeDicomFile({
    sopClassUid: SOP_CLASS[image.modality],
    sopInstanceUid,
    transferSyntax: image.transferSyntax,
    elements: imageHeaders({ seed, image, frame, photometric: rendered.photometric }),
    rows: rendered.height,
    columns: rendered.width,
    pixels: rendered.pixels,
  });
  return {
    index: image.index,
    sopInstanceUid,
    bytes,
    photometric: rendered.photometric,
    fractures: rendered.fractures,
    candidateBox: rendered.candidateRegion?.box ?? null,
    preview: withPreview ? toDisplay8(rendered) : null,
  };
}

// The phantom room: a synthetic hip radiograph cohort (DICOM + labels + fracture boxes and masks), rendered from
// analytic anatomy as X-ray line integrals. Synthetic, not clinical data; deterministic for a given seed.
export { cohortLabelSpec, generateCohort, imageFileName, LABELS_COLUMNS } from './cohort.js';
export type { CohortImageRecord, CohortPreview, CohortResult, GenerateOptions } from './cohort.js';
export { planCohort, validateCohortOptions, DEFAULT_PREVALENCE, DEFAULT_SIZE, DEFAULT_TRANSFER_SYNTAXES } from './plan.js';
export type { CohortOptions, PlannedImage, PlannedPatient } from './plan.js';
export { renderImage, imageFrame, markerTruth } from './render.js';
export type { MarkerTruth } from './markers.js';
export { toDisplay8 } from './preview.js';
export { renderHipCrops } from './hipCrops.js';
export { hipRoi, HIP_ROI_MM } from './roi.js';
export type { HipCropOptions, HipCropSet } from './hipCrops.js';
export { writeContactSheet } from './contactSheet.js';
export type { ContactSheetOptions } from './contactSheet.js';
export { encodeImage } from './encodeImage.js';
export type { EncodedImage } from './encodeImage.js';
export { encodeDicomFile, encodeRleFrame, TransferSyntax } from './dicomWriter.js';
export type { DicomElement, DicomImage, TransferSyntaxUid } from './dicomWriter.js';
export { SYNTHETIC_NOTICE, SOP_CLASS } from './dicomHeaders.js';
export { decodeMaskRle, encodeMaskRle } from './rle.js';
export { DIFFICULTIES, FRACTURE_TYPES, IMPLANT_KINDS } from './types.js';
export type {
  Difficulty,
  Displacement,
  FractureSpec,
  FractureTruth,
  FractureType,
  ImageSpec,
  ImplantKind,
  ImplantSpec,
  MarkerSpec,
  MaskRle,
  RenderedImage,
  RenderOptions,
} from './types.js';
export type { PatientAnatomy, Side } from './anatomy.js';
export type { ViewKind, ViewSpec, LateralStyle } from './views.js';
export type { DetectorSpec } from './detector.js';
export { PhantomError } from './errors.js';
export type { PhantomErrorCode } from './errors.js';

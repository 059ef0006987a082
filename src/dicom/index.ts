// The DICOM room's door: read and decode radiographs (all common transfer syntaxes, the standard's grey
// pipeline), de-identify by PS3.15, and make pseudonymous keys. No tensor dependency.
export { DicomError, SKIP_CODES, formatTag } from './errors.js';
export type { DicomErrorCode, DicomWarningCode, DicomIssue, DicomErrorDetails } from './errors.js';
export { readDicom, readDicomBytes, tryReadDicom } from './read.js';
export { bytesBeforePixelData, parseDicomBytes } from './parse.js';
export type { ParsedDicom } from './parse.js';
export type { DicomImage, DicomHeader, ReadDicomOptions, ReadDicomResult } from './read.js';
export type { PixelAttributes, StoredFrame } from './frames.js';
export { windowValue, windowReal } from './pixels.js';
export type { AppliedVoi, VoiChoice, VoiFunction, PipelineOptions } from './pixels.js';
export { TRANSFER_SYNTAXES, transferSyntax, nonImageReason } from './uids.js';
export type { TransferSyntax, PixelEncoding } from './uids.js';
export { BASIC_PROFILE, RETAINED_ATTRIBUTES, isRetained, profileAction } from './profile.js';
export type { ProfileAction, ProfileEntry } from './profile.js';
export { deidentifyDicom, patientKeyOf } from './deidentify.js';
export type { DeidentifyOptions } from './deidentify.js';
export { loadSalt, defaultSaltFile, keyedHash, pseudonymKey, pseudonymousUid } from './pseudonym.js';
export type { SaltOptions } from './pseudonym.js';
export { writeDicom, writeDicomDict, part10FromEncodedDataset, WRITE_TRANSFER_SYNTAXES, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './write.js';
export type { DenaturalizedDataset, NaturalDataset, WriteDicomOptions, Part10Meta } from './write.js';
export { readDicomIdentity } from './identity.js';
export { splitPart10 } from './part10.js';
export type { SplitPart10 } from './part10.js';
export type { DicomIdentity } from './identity.js';
export { buildTriageSr, triageSrDataset, patientStudyAttributes, plainPatientStudyAttributes, COMPREHENSIVE_SR_STORAGE, HIPFRAC_SCHEME, NOT_A_DIAGNOSIS } from './sr.js';
export type { SrImageResult, TriageSrInput } from './sr.js';

// The data room's door: manifest, labels, importers, patient-level split, leakage check, image cache and
// quality control — everything training needs to find its images without decoding DICOM again.
//
// A dataset directory (written by `hipfrac import`, `split`, `qc`):
//   manifest.jsonl      one ManifestRow per image (JSON Lines, appended as import goes)
//   cache/<hash>.png    the image at working resolution, 16-bit grey (<hash>.8bit.png with --8bit)
//   import-report.json  the last run: imported / skipped / failed by reason, label join report
//   split.json          patient-level train/val assignment or k folds, by row id
//   qc.html             contact sheet of QC-flagged images (self-contained, no identifiers)
// The salt behind the pseudonymous keys is never in it (~/.config/hipfrac/salt or --salt-file).
export { MANIFEST_FILE, manifestPath, loadManifest, readManifestRows, requireDataset, appendManifestRow, writeManifest, writeJsonAtomic } from './manifest.js';
export type { ManifestRow, View, SplitName, QcFlag, QcMetrics } from './manifest.js';
export { DataError } from './errors.js';
export type { DataErrorCode } from './errors.js';
export { parseCsv } from './csv.js';
export type { CsvRecord } from './csv.js';
export { FRACTURE_CLASSES, POSITIVE_WORDS, NEGATIVE_WORDS, classIndexOf, describeClassWords, normaliseClassWord } from './classes.js';
export { parseLabelTable, readLabelCsv, readImageLabels, LabelIndex, ROI_COLUMN_SETS, roiFromColumns } from './labels.js';
export type { LabelJoin, LabelRow, BadLabelRow, LabelTable, LabelOptions, ImageLabels } from './labels.js';
export { collectInputs, readRadiograph, modelInput, greyModelInput, radiographReader } from './radiographs.js';
export type { CropScorer } from './radiographs.js';
export type { Radiograph } from './radiographs.js';
export { readRoisCsv, readBoxes } from './rois.js';
export { connectedComponents, detectMarkers, fillMasked, maskMarkers } from './markers.js';
export type { MarkerComponent, MarkerDetection, MarkerDetectorOptions } from './markers.js';
export { FRACTURE_BOXES_COLUMN, boxesFromPixelText, boxesFromYolo, boxesInRegion, boxMaskPlane, boxesKnown } from './boxes.js';
export type { PixelBox } from './rois.js';
export { importDataset, lateralityFromHeader, viewFromHeader } from './importers.js';
export type { ImportLayout, ImportOptions, ImportReport, FileOutcome } from './importers.js';
export { SPLIT_FILE, splitByPatient, loadSplit, splitPath, rowsOf, leakageGroups } from './split.js';
export type { SplitOptions, SplitFile } from './split.js';
export { checkLeakage } from './leakage.js';
export type { Leak, LeakageReport } from './leakage.js';
export { CACHE_DIR, cacheFileName, cachedPngPath, workingSize, resizeGrey, encodeGreyPng, readCachedImage, readCachedFloat, writeFileAtomic } from './cache.js';
export type { CacheOptions, GreyImage } from './cache.js';
export { DEFAULT_QC, qcMetrics, qcFlags, summariseQc, qcTable, contactSheetHtml } from './qc.js';
export type { QcThresholds, QcSummary } from './qc.js';
export { ImageLoader, defaultLoaderOptions } from './loader.js';
export { shardOrder } from './distributedSampler.js';
export type { Shard } from './distributedSampler.js';
export type { Sample, LoaderOptions, Batch } from './loader.js';
export { MemoryBatches } from './memoryBatches.js';
export type { MemoryBatchOptions } from './memoryBatches.js';
export { defaultAugmentConfig, identityAugment, resolveAugmentConfig, drawAugmentParams, samplingMatrix, applyAugment, augmentBatch } from './augment.js';
export type { AugmentConfig, AugmentParams } from './augment.js';
export { defaultRegionJitter, jitterRegion, regionJitterProblems } from './regionJitter.js';
export type { RegionJitter } from './regionJitter.js';
export { decodeGrey, resampleGrey, writeGreyPng, cropGrey } from './imageIo.js';
export type { ResizeMethod, InputSize, RegionOfInterest } from './imageIo.js';

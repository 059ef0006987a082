// The shortcut audit's door: nuisance-label probes on a model's features and the fracture signal those labels carry,
// AUC with burned-in markers masked, heat in the fracture boxes against a random heatmap, the marker detector checked
// against the phantom's known markers, and the audit as Markdown, HTML or a section of the run's report.
export { auditShortcuts, PROBE_FOLDS } from './audit.js';
export type { AuditOptions, ShortcutAudit, ProbeResult, NuisanceLabel, NuisanceSignal, LocalisationResult } from './audit.js';
export { balancedAccuracy, fractureSignal, oneVsRestAuc, stratifiedFolds } from './signal.js';
export type { FractureSignal, GroupOutcome } from './signal.js';
export { checkMarkerDetector, readMarkerTruth } from './markerCheck.js';
export type { MarkerCheck } from './markerCheck.js';
export { auditMarkdown, auditHtml, auditTables } from './render.js';
export type { AuditTable } from './render.js';
export { AuditError } from './errors.js';
export type { AuditErrorCode } from './errors.js';

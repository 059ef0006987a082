// The shortcut audit's door: nuisance-label probes on a model's features, AUC with burned-in markers masked, heat in
// the fracture boxes against a random heatmap, and the marker detector checked against the phantom's known markers.
export { auditShortcuts } from './audit.js';
export type { AuditOptions, ShortcutAudit, ProbeResult, LocalisationResult } from './audit.js';
export { checkMarkerDetector, readMarkerTruth } from './markerCheck.js';
export type { MarkerCheck } from './markerCheck.js';
export { auditMarkdown, auditHtml } from './render.js';
export { AuditError } from './errors.js';
export type { AuditErrorCode } from './errors.js';

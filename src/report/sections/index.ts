// Report sections for the analyses above training: heatmaps (explain), robustness (robust), triage and the shortcut audit.
// A door of its own: these import the report helpers, and the report room's door does not import them back.
export { heatmapSection } from './heatmaps.js';
export type { HeatmapGalleryEntry, HeatmapSectionInput } from './heatmaps.js';
export { robustnessSection } from './robustness.js';
export type { RobustnessSectionInput } from './robustness.js';
export { triageSection } from './triage.js';
export type { TriageSectionInput } from './triage.js';
export { shortcutAuditSection, SHORTCUT_AUDIT_SECTION_ID } from './audit.js';

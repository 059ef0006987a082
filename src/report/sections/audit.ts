// The report section for the shortcut audit (src/audit): the audit's tables under the run report's own headings, so
// `hipfrac audit-shortcuts` can add them to the report of the run whose model it audited.
import { escapeHtml, paragraph, subheading, type ReportSection } from '../index.js';
import { auditTables, type ShortcutAudit } from '../../audit/index.js';

/** The anchor of the section in a run report (the standalone audit.html uses the same). */
export const SHORTCUT_AUDIT_SECTION_ID = 'shortcut-audit';

/** Section "Shortcut audit": what was audited and on which images, then one table per part of the audit. */
export function shortcutAuditSection(audit: ShortcutAudit): ReportSection {
  const parts = [
    paragraph(
      `hipfrac audit-shortcuts on this run's ${audit.architecture}, measured on the ${audit.images} ${audit.evaluatedOn} images of the dataset: ` +
        'do nuisance labels (view, body part, orthopaedic hardware, burned-in markers) ride along with the fracture signal, does masking the markers move the AUC, and does the heat fall inside the fracture boxes.',
    ),
  ];
  for (const t of auditTables(audit)) {
    const head = `<thead><tr>${t.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>`;
    const body = `<tbody>${t.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</tbody>`;
    parts.push(subheading(t.title), paragraph(t.note, { muted: true }), `<div class="table-scroll"><table>${head}${body}</table></div>`);
  }
  return { id: SHORTCUT_AUDIT_SECTION_ID, title: 'Shortcut audit', html: parts.join('') };
}

// The shortcut audit as tables (the run report's "Shortcut audit" section renders them: src/report/sections), as a
// Markdown section and as a standalone HTML section; no images, no identifiers: only figures and the set they were
// measured on. Audits written before a field existed render it as '–' (or leave its table out).
import type { ProbeResult, ShortcutAudit } from './audit.js';

const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '–');
const num = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '–');
const LABELS: Record<string, string> = { view: 'view', bodyPart: 'body part', hardware: 'orthopaedic hardware', markers: 'burned-in marker present (detector)' };

export interface AuditTable {
  readonly title: string;
  readonly note: string;
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** "62.0 % (chance 33.3 %)". */
const withChance = (value: number | undefined, chance: number | undefined): string => (value === undefined ? '–' : `${pct(value)}${chance === undefined ? '' : ` (chance ${pct(chance)})`}`);

function probeRow(p: ProbeResult): string[] {
  const cv = p.crossValidated;
  return [
    LABELS[p.label] ?? p.label,
    p.classes.join(', '),
    pct(p.accuracy),
    pct(p.majorityBaseline),
    withChance(p.balancedAccuracy, p.chance?.balancedAccuracy),
    p.rocAuc === undefined ? '–' : num(p.rocAuc),
    cv === undefined ? '–' : `${withChance(cv.balancedAccuracy, cv.chanceBalancedAccuracy)} · AUC ${num(cv.rocAuc)}`,
    `${p.trainImages} / ${p.heldOutImages}`,
  ];
}

/** The audit's tables (title, note, header, rows), shared by the Markdown, the HTML and the run report's section. */
export function auditTables(a: ShortcutAudit): AuditTable[] {
  const folds = a.probes.find((p) => p.crossValidated !== undefined)?.crossValidated?.folds;
  const signal = a.fractureSignal ?? [];
  const out: AuditTable[] = [
    {
      title: 'Nuisance labels read from the features',
      note:
        `Linear probes on the pooled features, fitted on training images; accuracy, balanced accuracy (the mean recall over the classes, which chance cannot inflate) and one-vs-rest ROC AUC on the ${a.evaluatedOn} images` +
        `${folds === undefined ? '' : `, and the same from ${folds}-fold cross-validation on the training images`}. A probe far above chance means the features carry that label.`,
      header: ['label', 'classes', 'probe accuracy', 'majority baseline', 'balanced accuracy', 'ROC AUC (chance 0.500)', `${folds ?? 'k'}-fold CV on training images`, 'images (train / held out)'],
      rows: a.probes.map(probeRow),
    },
  ];
  if (signal.length > 0) {
    out.push({
      title: 'Fracture signal carried by the nuisance labels',
      note:
        `On the ${a.evaluatedOn} images whose label is known. AUC from the label alone: each image scored by its group's fracture rate in the probes' training images (0.5: the label says nothing about fracture). ` +
        'Model AUC within groups: only pairs of a fractured and a normal image of the same group count (a stratified AUC); a model that ranks fractures by the label instead of the bone loses AUC there against its AUC on the same images.',
      header: ['label', 'groups (fractured / images)', 'AUC from the label alone', 'model AUC', 'model AUC within groups', 'pairs within groups'],
      rows: signal.map((g) => [
        LABELS[g.label] ?? g.label,
        g.groups.map((x) => `${x.name} ${x.fractured}/${x.images}`).join(', '),
        num(g.labelOnlyAuc),
        num(g.modelAuc),
        num(g.withinGroupAuc),
        `${g.withinGroupPairs} of ${g.allPairs}`,
      ]),
    });
  }
  out.push(
    {
      title: 'Burned-in markers masked',
      note: `ROC AUC on the ${a.evaluatedOn} images as they are and with the detector's components filled with local background (${a.masking.imagesWithMarkers} of ${a.images} images have a detected marker).`,
      header: ['AUC', 'AUC, markers masked', 'change', 'mean |Δ P(fracture)|'],
      rows: [[num(a.masking.auc), num(a.masking.aucMasked), num(a.masking.aucChange), num(a.masking.meanAbsProbabilityChange)]],
    },
  );
  if (a.localisation !== null) {
    const l = a.localisation;
    out.push({
      title: 'Heat inside the fracture boxes',
      note: `${l.n} fractured ${a.evaluatedOn} images with boxes; Grad-CAM on ${l.layer}; a uniform random heatmap scored the same way; the boxes cover ${pct(l.boxAreaShare)} of the image on average.`,
      header: ['heatmap', 'pointing game', 'heat in boxes'],
      rows: [['Grad-CAM', pct(l.gradCam.pointingGame), pct(l.gradCam.energyInBoxes)], ...(l.boxHead === null ? [] : [['box head', pct(l.boxHead.pointingGame), pct(l.boxHead.energyInBoxes)]]), ['random', pct(l.random.pointingGame), pct(l.random.energyInBoxes)]],
    });
  }
  if (a.markerDetector !== null) {
    const m = a.markerDetector;
    out.push({
      title: 'Marker detector against known markers',
      note: `${m.images} images with known marker positions (the phantom's annotations), ${m.truthMarkers} markers, ${m.detected} detected components.`,
      header: ['precision', 'recall', ...Object.keys(m.recallByKind).map((k) => `recall: ${k}`)],
      rows: [[pct(m.precision), pct(m.recall), ...Object.values(m.recallByKind).map((k) => `${k.found} / ${k.of}`)]],
    });
  }
  return out;
}

export function auditMarkdown(a: ShortcutAudit): string {
  const lines = [`## Shortcut audit (${a.architecture}, ${a.evaluatedOn} set, ${a.images} images)`, ''];
  for (const t of auditTables(a)) {
    // A '|' inside a cell (|Δ P|) would end the cell: escaped as Markdown tables require.
    const cells = (r: readonly string[]): string => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
    lines.push(`### ${t.title}`, '', t.note, '', cells(t.header), `| ${t.header.map(() => '---').join(' | ')} |`, ...t.rows.map(cells), '');
  }
  return `${lines.join('\n')}\n`;
}

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A <section> for an HTML report. */
export function auditHtml(a: ShortcutAudit): string {
  const parts = [`<section id="shortcut-audit"><h2>Shortcut audit (${escape(a.architecture)}, ${escape(a.evaluatedOn)} set, ${a.images} images)</h2>`];
  for (const t of auditTables(a)) {
    parts.push(`<h3>${escape(t.title)}</h3><p>${escape(t.note)}</p><table><thead><tr>${t.header.map((h) => `<th>${escape(h)}</th>`).join('')}</tr></thead><tbody>`);
    for (const r of t.rows) parts.push(`<tr>${r.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`);
    parts.push('</tbody></table>');
  }
  parts.push('</section>');
  return parts.join('\n');
}

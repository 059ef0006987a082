// The shortcut audit as a Markdown section and as an HTML section the run report can include (no images, no
// identifiers: only figures and the set they were measured on).
import type { ShortcutAudit } from './audit.js';

const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '–');
const num = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '–');
const LABELS: Record<string, string> = { view: 'view', bodyPart: 'body part', markers: 'burned-in marker present (detector)' };

/** Rows of the three tables, shared by the Markdown and HTML renderings. */
function tables(a: ShortcutAudit): { title: string; note: string; header: string[]; rows: string[][] }[] {
  const out = [
    {
      title: 'Nuisance labels read from the features',
      note: `Linear probes on the pooled features, fitted on training images, accuracy on the ${a.evaluatedOn} images. A probe far above its baseline means the features carry that label.`,
      header: ['label', 'classes', 'probe accuracy', 'majority baseline', 'images (train / held out)'],
      rows: a.probes.map((p) => [LABELS[p.label] ?? p.label, p.classes.join(', '), pct(p.accuracy), pct(p.majorityBaseline), `${p.trainImages} / ${p.heldOutImages}`]),
    },
    {
      title: 'Burned-in markers masked',
      note: `ROC AUC on the ${a.evaluatedOn} images as they are and with the detector's components filled with local background (${a.masking.imagesWithMarkers} of ${a.images} images have a detected marker).`,
      header: ['AUC', 'AUC, markers masked', 'change', 'mean |Δ P(fracture)|'],
      rows: [[num(a.masking.auc), num(a.masking.aucMasked), num(a.masking.aucChange), num(a.masking.meanAbsProbabilityChange)]],
    },
  ];
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
  for (const t of tables(a)) {
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
  for (const t of tables(a)) {
    parts.push(`<h3>${escape(t.title)}</h3><p>${escape(t.note)}</p><table><thead><tr>${t.header.map((h) => `<th>${escape(h)}</th>`).join('')}</tr></thead><tbody>`);
    for (const r of t.rows) parts.push(`<tr>${r.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`);
    parts.push('</tbody></table>');
  }
  parts.push('</section>');
  return parts.join('\n');
}

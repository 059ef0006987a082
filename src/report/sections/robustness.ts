// The report section for robustness: accuracy against ε per attack, the robustness table with and without
// defences, and the attack gallery.
import { figure, formatNumber, gallery, lineChart, note, paragraph, type GalleryItem, type LineSeries, type ReportSection } from '../index.js';
import { escapeHtml } from '../index.js';
import type { RobustnessTable } from '../../robust/index.js';
import type { SweepRow } from '../../robust/index.js';

export interface RobustnessSectionInput {
  /** One curve per attack (and per defence), e.g. { name: 'FGSM', rows }. */
  readonly sweeps?: readonly { readonly name: string; readonly rows: readonly SweepRow[] }[];
  readonly table?: RobustnessTable;
  /** Gallery tiles: clean, magnified perturbation, adversarial (PNG bytes), with a caption for each triple. */
  readonly examples?: readonly { readonly clean: Uint8Array; readonly perturbation: Uint8Array; readonly adversarial: Uint8Array; readonly caption: string; readonly key?: string }[];
}

function tableHtml(table: RobustnessTable): string {
  const head = `<tr><th>defence</th><th>clean</th>${table.attacks.map((a) => `<th>${escapeHtml(a)}</th>`).join('')}</tr>`;
  const body = table.rows
    .map((r) => `<tr><th scope="row">${escapeHtml(r.defence)}</th><td>${formatNumber(r.clean, 'percent')}</td>${table.attacks.map((a) => `<td>${formatNumber(r.attacked[a] ?? Number.NaN, 'percent')}</td>`).join('')}</tr>`)
    .join('');
  return `<table class="metrics"><caption>Accuracy, clean and under attack (n = ${table.rows[0]?.n ?? 0})</caption><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

/** Section "How easily it is fooled". */
export async function robustnessSection(input: RobustnessSectionInput): Promise<ReportSection> {
  const parts: string[] = [paragraph('Attacks change pixels of [0, 1] images within an L∞ budget ε (shown in /255); normalisation is inside the model. Defences are measured against attacks crafted on the undefended model (grey-box); an adaptive attacker may do better.')];
  if (input.sweeps !== undefined && input.sweeps.length > 0) {
    const series: LineSeries[] = input.sweeps.map((s) => ({ name: s.name, x: s.rows.map((r) => r.eps * 255), y: s.rows.map((r) => r.accuracy) }));
    parts.push(figure(await lineChart(series, { xLabel: 'ε (/255)', yLabel: 'accuracy', yDomain: [0, 1] }), 'Accuracy as the attack budget grows'));
  }
  if (input.table !== undefined) parts.push(tableHtml(input.table));
  if (input.examples !== undefined && input.examples.length > 0) {
    const tiles: GalleryItem[] = input.examples.flatMap((e) => [
      { image: e.clean, caption: `clean · ${e.caption}`, ...(e.key === undefined ? {} : { key: e.key }) },
      { image: e.perturbation, caption: 'perturbation (magnified)' },
      { image: e.adversarial, caption: 'adversarial' },
    ]);
    parts.push(gallery(tiles, { columns: 3, caption: 'Clean image, magnified perturbation, adversarial image' }));
  } else {
    parts.push(note('No attack gallery in this run.'));
  }
  return { id: 'robustness', title: 'How easily it is fooled', html: parts.join('') };
}

// The report section for triage: the policy with its measured error and bound, the risk–coverage curve with
// the chosen cut-off, conformal coverage and the two operating points.
import { figure, formatNumber, keyValueTable, lineChart, paragraph, statCards, type ReportSection, type StatCard } from '../index.js';
import type { RiskCoverageCurve } from '../../triage/index.js';
import type { TriagePolicy } from '../../triage/index.js';

export interface TriageSectionInput {
  readonly policy: TriagePolicy;
  readonly riskCoverage?: RiskCoverageCurve;
  /** The images the risk–coverage curve was measured on (e.g. 'test'); named in its caption. */
  readonly riskCoverageSet?: string;
  /** The cut-off measured on images that did not choose it (test, or the held-out half of validation). */
  readonly heldOut?: { readonly set: string; readonly measuredError: number | null; readonly errorUpperBound: number | null; readonly coverage: number; readonly n: number };
  /** Conformal evaluation on held-out data, if a conformal policy was also measured. */
  readonly conformal?: { readonly alpha: number; readonly coverage: number; readonly meanSetSize: number; readonly singletonRate: number; readonly n: number };
}

/** Section "When to trust it". */
export async function triageSection(input: TriageSectionInput): Promise<ReportSection> {
  const p = input.policy;
  const cards: StatCard[] = [];
  if (p.cutoff !== null) cards.push({ label: 'Confidence cut-off', value: p.cutoff > 1 ? 'none' : formatNumber(p.cutoff, 'percent', 2), detail: p.method });
  if (p.coverage !== null) cards.push({ label: 'Auto-reported', value: formatNumber(p.coverage, 'percent'), detail: `of ${p.n ?? '?'} validation images` });
  if (p.measuredError !== null) cards.push({ label: 'Error among auto-reported', value: formatNumber(p.measuredError, 'percent', 2), detail: p.errorUpperBound === null ? '' : `≤ ${formatNumber(p.errorUpperBound, 'percent', 2)} with ${formatNumber(1 - (p.delta ?? 0.05), 'percent')} confidence` });
  if (input.heldOut !== undefined) {
    const h = input.heldOut;
    cards.push({ label: `Error on ${h.set}`, value: h.measuredError === null ? '–' : formatNumber(h.measuredError, 'percent', 2), detail: `${formatNumber(h.coverage, 'percent')} of ${h.n} auto-reported${h.errorUpperBound === null ? '' : ` · ≤ ${formatNumber(h.errorUpperBound, 'percent', 2)}`}` });
  }
  if (input.conformal !== undefined) cards.push({ label: 'Conformal coverage', value: formatNumber(input.conformal.coverage, 'percent'), detail: `stated ≥ ${formatNumber(1 - input.conformal.alpha, 'percent')} · mean set size ${input.conformal.meanSetSize.toFixed(2)}` });
  const parts = [
    paragraph('Each image is auto-reported when its calibrated confidence clears the cut-off; otherwise it goes to a radiologist with its heatmap. The cut-off is chosen on validation images.'),
    statCards(cards),
  ];
  if (input.riskCoverage !== undefined && input.riskCoverage.points.length > 0) {
    const pts = input.riskCoverage.points;
    const chosen = p.cutoff === null ? undefined : pts.filter((q) => q.threshold >= (p.cutoff as number)).at(-1);
    const svg = await lineChart([{ name: 'risk', x: pts.map((q) => q.coverage), y: pts.map((q) => q.risk) }], {
      xLabel: 'coverage (share auto-reported)',
      yLabel: 'error among auto-reported',
      ...(chosen === undefined ? {} : { markers: [{ x: chosen.coverage, y: chosen.risk, label: 'cut-off' }] }),
    });
    parts.push(figure(svg, `Risk–coverage curve${input.riskCoverageSet === undefined ? '' : ` on the ${input.riskCoverageSet} images`} (AURC ${input.riskCoverage.aurc.toFixed(4)}, n = ${input.riskCoverage.n})`));
  }
  if (p.operatingPoints !== undefined) {
    const o = p.operatingPoints;
    parts.push(keyValueTable({
      'suspicious.threshold': o.suspicious.threshold.toFixed(4),
      'suspicious.sensitivity': formatNumber(o.suspicious.sensitivity, 'percent'),
      'suspicious.specificity': formatNumber(o.suspicious.specificity, 'percent'),
      'definite.threshold': o.definite.threshold.toFixed(4),
      'definite.sensitivity': formatNumber(o.definite.sensitivity, 'percent'),
      'definite.specificity': formatNumber(o.definite.specificity, 'percent'),
    }, { caption: 'Operating points on P(fracture)' }));
  }
  return { id: 'triage', title: 'When to trust it', html: parts.join('') };
}

// The study's result from its images. The rule: the most suspicious image (highest P(fracture)) decides.
// - It was auto-reported as a fracture → 'fracture-suspected'.
// - It was sent to review → 'radiologist-review'.
// - It was auto-reported as intact → 'no-fracture', unless another image went to review or could not be
//   processed → 'radiologist-review' (a study is only reported without a fracture when every image is).
// - No image could be processed → 'not-processed'.
import type { ResultRecord } from '../store/index.js';

export type StudyDecisionKind = 'fracture-suspected' | 'no-fracture' | 'radiologist-review' | 'not-processed';

export const FINDING_TEXT: Readonly<Record<StudyDecisionKind, string>> = {
  'fracture-suspected': 'Fracture suspected',
  'no-fracture': 'No fracture',
  'radiologist-review': 'Needs radiologist review',
  'not-processed': 'Not processed',
};

export interface StudyOutcome {
  readonly decision: StudyDecisionKind;
  readonly finding: string;
  readonly reason: string;
  /** The deciding image's P(fracture); null when none was processed. */
  readonly fractureProbability: number | null;
}

const pct = (p: number): string => `${(100 * p).toFixed(1)} %`;

export function decideStudy(results: readonly ResultRecord[], fractureClass = 'fracture'): StudyOutcome {
  const processed = results.filter((r) => r.decision !== 'not-processed' && r.fractureProbability !== null);
  const failed = results.length - processed.length;
  if (processed.length === 0) {
    return { decision: 'not-processed', finding: FINDING_TEXT['not-processed'], reason: `none of the ${results.length} image(s) could be processed`, fractureProbability: null };
  }
  const top = processed.reduce((a, b) => ((b.fractureProbability as number) > (a.fractureProbability as number) ? b : a));
  const p = top.fractureProbability as number;
  const others = results.length > 1 ? ` (most suspicious of ${results.length} images)` : '';
  let decision: StudyDecisionKind;
  let reason: string;
  if (top.decision === 'radiologist-review') {
    decision = 'radiologist-review';
    reason = `P(fracture) ${pct(p)}${others}: ${top.reason}`;
  } else if (top.predicted === fractureClass) {
    decision = 'fracture-suspected';
    reason = `P(fracture) ${pct(p)}${others}, auto-reported: ${top.reason}`;
  } else if (processed.some((r) => r.decision === 'radiologist-review') || failed > 0) {
    decision = 'radiologist-review';
    const reviewed = processed.filter((r) => r.decision === 'radiologist-review').length;
    reason = `highest P(fracture) ${pct(p)}, but ${reviewed > 0 ? `${reviewed} image(s) need review` : ''}${reviewed > 0 && failed > 0 ? ' and ' : ''}${failed > 0 ? `${failed} image(s) could not be processed` : ''}`;
  } else {
    decision = 'no-fracture';
    reason = `every image auto-reported without fracture; highest P(fracture) ${pct(p)}`;
  }
  return { decision, finding: FINDING_TEXT[decision], reason, fractureProbability: p };
}

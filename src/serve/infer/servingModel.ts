// What the node checks about a model before it starts: the card, the triage policy stored by
// `hipfrac triage-calibrate`, and that a hip-crop model (--crop roi) carries a learned localiser.
import path from 'node:path';
import { CHECKPOINT_CARD, readModelCard, type ModelCard } from '../../models/index.js';
import { policyFromModelCard, type TriagePolicy } from '../../triage/index.js';
import { HipfracError } from '../../util/index.js';

export interface ServingModel {
  readonly dir: string;
  readonly card: ModelCard;
  readonly policy: TriagePolicy;
  /** `architecture@hipfracVersion`, as the SR names it. */
  readonly name: string;
  readonly version: string;
  readonly dataFingerprint: string;
}

/** Reads the card and its policy; refuses a model that cannot be served (coded errors naming the fix). */
export function readServingModel(dir: string): ServingModel {
  const card = readModelCard(dir);
  if (card.crop === 'roi' && card.extra['hipLocaliser'] === undefined) {
    throw new HipfracError('HF_SERVE_NEEDS_LOCALISER', 'this model was trained on hip crops (crop: roi) and its checkpoint has no learned hip localiser; the node does not guess a region.', {
      input: path.join(dir, CHECKPOINT_CARD),
      fix: 'serve a model trained on whole radiographs (--crop none), or one whose checkpoint carries a hip localiser.',
    });
  }
  const policy = policyFromModelCard(card, path.join(dir, CHECKPOINT_CARD));
  return {
    dir,
    card,
    policy,
    name: card.architecture,
    version: card.hipfracVersion,
    dataFingerprint: card.dataFingerprint ?? 'unknown',
  };
}

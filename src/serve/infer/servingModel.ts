// What the node checks about a model before it starts: the card, the triage policy stored by
// `hipfrac triage-calibrate`, and that a hip-crop model (--crop roi) carries a learned localiser.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LOCALISER_DIR, LOCALISER_WEIGHTS } from '../../localise/index.js';
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
  // The localiser lives beside the classifier: model.json's `localiser` entry and localiser/localiser.safetensors.
  if (card.crop === 'roi') {
    const localiser = (card as { localiser?: { dir?: string } }).localiser;
    const weights = path.join(dir, localiser?.dir ?? LOCALISER_DIR, LOCALISER_WEIGHTS);
    if (localiser === undefined || !existsSync(weights)) {
      throw new HipfracError('HF_SERVE_NEEDS_LOCALISER', `this model was trained on hip crops (crop: roi) and its checkpoint has no learned hip localiser${localiser === undefined ? '' : ` (the card names one, but ${weights} is missing)`}; the node does not guess a region.`, {
        input: path.join(dir, CHECKPOINT_CARD),
        fix: 'serve a model trained on whole radiographs (--crop none), or one whose checkpoint carries a hip localiser (hipfrac train --crop roi on data with hip regions trains one; keep its localiser/ folder beside model.json).',
      });
    }
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

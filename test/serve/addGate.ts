// Gives a copy of the serve tests' tiny model an input gate (in its own process, so LibTorch stays out of the test
// process that hosts the node): features of the given phantom images, every other one to fit the gate and the rest to
// set its thresholds, as `train` does; and a given cut-off of 0.5, so that the gate is the only way to review.
// Usage: node addGate.js MODEL_DIR OUT_DIR FILE…
import { cpSync } from 'node:fs';
import path from 'node:path';
import { modelInput, readRadiograph, writeJsonAtomic } from '../../src/data/index.js';
import { gateFeatures, InputGate, type GateFeatures } from '../../src/gate/index.js';
import { loadCheckpoint, readModelCard } from '../../src/models/index.js';
import { setNumThreads, tidy } from '../../src/torch/index.js';
import { givenCutoffPolicy, policyToJson } from '../../src/triage/index.js';

const [modelDir, outDir, ...files] = process.argv.slice(2) as [string, string, ...string[]];
setNumThreads(1);
cpSync(modelDir, outDir, { recursive: true });
const { model, card } = loadCheckpoint(outDir);
const radiographs = await Promise.all(files.map((f) => readRadiograph(f)));
const set = tidy(() => gateFeatures(model, modelInput(radiographs, card.inputSize)));
const part = (keep: (i: number) => boolean): GateFeatures => {
  const pick = <T>(xs: readonly T[]): T[] => xs.filter((_, i) => keep(i));
  return { features: pick(set.features), logits: pick(set.logits), pixels: pick(set.pixels), polarity: pick(set.polarity), invertedPolarity: pick(set.invertedPolarity) };
};
const train = part((i) => i % 2 === 0);
const gate = InputGate.fit({ ...train, labels: train.features.map(() => 0), bodyParts: train.features.map(() => null), views: train.features.map(() => null) }, part((i) => i % 2 === 1));
const entry = gate.save(outDir);
await writeJsonAtomic(path.join(outDir, 'model.json'), { ...readModelCard(outDir), gate: entry, threshold: policyToJson(givenCutoffPolicy(0.5)) });
model.dispose();

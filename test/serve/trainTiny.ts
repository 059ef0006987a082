// Trains the serve tests' tiny model in its own process (so LibTorch's threads never live in the test process
// that also hosts the node under test): resnet18 at 64 px, three Adam steps on the phantom images, and a given
// 0.9 cut-off in the card. Usage: node trainTiny.js MODEL_DIR LABELS_JSON ([[file, label], …]) SEED
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { modelInput, readRadiograph, writeJsonAtomic } from '../../src/data/index.js';
import { createClassifier, readModelCard, saveCheckpoint } from '../../src/models/index.js';
import { Adam } from '../../src/nn/index.js';
import { crossEntropy, manualSeed, setNumThreads, tensor, tidy } from '../../src/torch/index.js';
import { givenCutoffPolicy, policyToJson } from '../../src/triage/index.js';

const [modelDir, labelsJson, seed] = process.argv.slice(2) as [string, string, string];
const rows = JSON.parse(readFileSync(labelsJson, 'utf8')) as [string, number][];
setNumThreads(1);
manualSeed(Number(seed));
const model = createClassifier('resnet18', { weights: null, numClasses: 2 });
const radiographs = await Promise.all(rows.map(([f]) => readRadiograph(f)));
const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
model.train();
for (let step = 0; step < 3; step++) {
  tidy(() => {
    optimizer.zeroGrad();
    const loss = crossEntropy(model.call(modelInput(radiographs, 64)), tensor(BigInt64Array.from(rows.map(([, y]) => BigInt(y))), [rows.length]));
    loss.backward();
    optimizer.step();
  });
}
model.eval();
saveCheckpoint(modelDir, model, { classes: ['intact', 'fracture'], inputSize: 64 });
model.dispose();
// A given cut-off of 0.9: a barely trained model is rarely that sure, so most cases go to review (heatmaps, SCs).
await writeJsonAtomic(path.join(modelDir, 'model.json'), { ...readModelCard(modelDir), threshold: policyToJson(givenCutoffPolicy(0.9)) });

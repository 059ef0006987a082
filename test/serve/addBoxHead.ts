// Gives a copy of the serve tests' tiny model a box head whose output is known in advance (in its own process, so
// LibTorch stays out of the test process that hosts the node): the 1×1 convolution's weights are zero and its bias
// is BIAS, so every heatmap cell has probability sigmoid(BIAS) and, above the card's threshold, the head finds one
// box covering the whole image the model sees, scored sigmoid(BIAS).
// Usage: node addBoxHead.js MODEL_DIR OUT_DIR BIAS THRESHOLD
import path from 'node:path';
import { writeJsonAtomic } from '../../src/data/index.js';
import { createClassifier, loadCheckpoint, readModelCard, saveCheckpoint } from '../../src/models/index.js';
import { noGrad, setNumThreads } from '../../src/torch/index.js';

const [modelDir, outDir, bias, threshold] = process.argv.slice(2) as [string, string, string, string];
setNumThreads(1);
const { model, card } = loadCheckpoint(modelDir);
const boxed = createClassifier(card.architecture, { numClasses: card.classes.length, head: card.head, ps: card.ps, weights: null, boxHead: true });
const state = new Map(model.stateDict());
for (const [key, value] of boxed.stateDict()) if (key.startsWith('boxHead.')) state.set(key, value);
boxed.loadStateDict(state);
noGrad(() => {
  boxed.boxHead?.param('weight').fill_(0);
  boxed.boxHead?.param('bias').fill_(Number(bias));
});
boxed.eval();
saveCheckpoint(outDir, boxed, { ...card, boxHead: { threshold: Number(threshold) } });
// saveCheckpoint writes the card anew: keep the source card's triage policy (and anything else it carried).
await writeJsonAtomic(path.join(outDir, 'model.json'), { ...readModelCard(modelDir), boxHead: { threshold: Number(threshold) } });
model.dispose();
boxed.dispose();

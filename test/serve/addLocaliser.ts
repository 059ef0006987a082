// Turns a copy of the serve tests' tiny model into a hip-crop model (crop: roi) that carries a learned hip localiser,
// in its own process (LibTorch stays out of the test process that hosts the node): the phantom images as 16-bit PNG
// with their true hip regions from the cohort's labels.csv, one epoch of the library's localiser training, saved
// beside the classifier as `hipfrac train --crop roi` does.
// Usage: node addLocaliser.js MODEL_DIR LABELS_CSV PNG_DIR FILE... (at least 4; a file may repeat)
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encode } from 'fast-png';
import { readModelCard } from '../../src/models/index.js';
import { readRadiograph, readRoisCsv, writeJsonAtomic } from '../../src/data/index.js';
import { saveLocaliser, trainLocaliser, type LocaliserSample } from '../../src/localise/index.js';
import { setNumThreads } from '../../src/torch/index.js';

const [modelDir, labelsCsv, pngDir, ...files] = process.argv.slice(2) as [string, string, string, ...string[]];
setNumThreads(1);
const rois = readRoisCsv(labelsCsv);
mkdirSync(pngDir, { recursive: true });
const samples: LocaliserSample[] = [];
for (const [i, file] of files.entries()) {
  const parts = file.split(path.sep);
  const box = rois.get(parts.slice(-3).join('/'));
  if (box === undefined) throw new Error(`no hip region for ${file} in ${labelsCsv}`);
  const { width, height, data } = (await readRadiograph(file)).original;
  const png = path.join(pngDir, `${i}.png`);
  writeFileSync(png, encode({ width, height, data, channels: 1, depth: 16 }));
  samples.push({ imagePath: png, roi: [box[0] / width, box[1] / height, box[2] / width, box[3] / height] });
}
const { net, card } = await trainLocaliser(samples, { inputSize: 64, epochs: 1, batchSize: 2, workers: 0, seed: 1 });
await writeJsonAtomic(path.join(modelDir, 'model.json'), { ...readModelCard(modelDir), crop: 'roi' });
await saveLocaliser(modelDir, net, card);
net.dispose();

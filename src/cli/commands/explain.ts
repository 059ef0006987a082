// `hipfrac explain`: heatmap overlays (Grad-CAM, Grad-CAM++ or HiResCAM) for radiographs at their own
// resolution, and localisation scores when fracture boxes are given.
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { CliError } from '../errors.js';
import {
  ClassifierOutputTarget,
  GradCam,
  GradCamPlusPlus,
  HiResCam,
  heatmapsFromTensor,
  localisationScores,
  resizeHeatmap,
  writeOverlayPng,
  type BaseCam,
  type Box,
  type Heatmap,
} from '../../explain/index.js';
import { tidy } from '../../torch/index.js';
import { collectInputs, modelInput, readBoxes, type Radiograph } from '../../data/index.js';
import { batchesOf, CHECKPOINT_FLAGS, checkpointCard, checkpointReader, colormapOption, loadModel, numberOption, positiveInt, singlePositional } from '../options.js';

const usage = `Usage: hipfrac explain <dicom|png|dir> --model CKPT_DIR [--device cpu|cuda[:N]] [--out DIR] [--method gradcam|gradcam++|hirescam]
                       [--layer PATH] [--target predicted|CLASS] [--colormap jet|viridis|cividis] [--opacity 0.4]
                       [--boxes boxes.csv] [--batch N] [--rois FILE]

Writes one overlay PNG per radiograph to DIR (default ./heatmaps) at the image's own resolution.
--layer: a module path (default: the architecture's Grad-CAM layer; \`hipfrac models\` lists them).
--target: the class explained (default each image's predicted class), by name or index.
--boxes: CSV "file,x0,y0,x1,y1" in original pixels (x1/y1 exclusive; several rows per file allowed), or the
phantom cohort's annotations.json; then the pointing game (with the random-heatmap baseline) and the heat share
inside the boxes are printed and written to DIR/localisation.json.`;

function camFor(method: string, model: ConstructorParameters<typeof GradCam>[0], layer: string): BaseCam {
  switch (method) {
    case 'gradcam': return new GradCam(model, layer);
    case 'gradcam++': return new GradCamPlusPlus(model, layer);
    case 'hirescam': return new HiResCam(model, layer);
    default: throw new CliError('HF_CLI_BAD_OPTION', `unknown CAM method '${method}'.`, { input: '--method', fix: 'use gradcam, gradcam++ or hirescam.' });
  }
}

export const explainCommand: CliCommand = {
  name: 'explain',
  summary: 'Heatmap overlays (Grad-CAM/Grad-CAM++/HiResCAM) and localisation scores against boxes',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        ...CHECKPOINT_FLAGS,
        out: { type: 'string' },
        method: { type: 'string', default: 'gradcam' },
        layer: { type: 'string' },
        target: { type: 'string', default: 'predicted' },
        colormap: { type: 'string' },
        opacity: { type: 'string' },
        boxes: { type: 'string' },
        batch: { type: 'string' },
      },
    });
    const input = singlePositional(positionals, 'input', usage.split('\n')[0] ?? '');
    const colormap = colormapOption(values.colormap);
    const opacity = numberOption(values.opacity, '--opacity') ?? 0.4;
    const batchSize = positiveInt(values.batch, 8, '--batch');
    const files = collectInputs(input);
    const boxes = values.boxes === undefined ? undefined : readBoxes(values.boxes);
    const reader = checkpointReader(values.model, checkpointCard(values.model), values.rois);
    const read = reader.read;
    const { model, card } = loadModel(values.model, values.device);
    reader.use(model);
    const layer = values.layer ?? model.spec.gradCamLayer;
    const cam = camFor(values.method as string, model, layer);
    let targetClass: number | undefined;
    if (values.target !== 'predicted') {
      const byName = card.classes.indexOf(values.target as string);
      targetClass = byName >= 0 ? byName : Number(values.target);
      if (!Number.isInteger(targetClass) || targetClass < 0 || targetClass >= card.classes.length) {
        throw new CliError('HF_CLI_BAD_OPTION', `--target '${values.target}' is not 'predicted', a class name (${card.classes.join(', ')}) or an index.`, { input: '--target', fix: 'use predicted, a class name of the model card or a class index.' });
      }
    }
    const outDir = values.out ?? 'heatmaps';
    const scored: { file: string; heatmap: Heatmap; boxes: Box[] }[] = [];
    const written: { file: string; overlay: string }[] = [];
    for (const names of batchesOf(files, batchSize)) {
      const radiographs = await Promise.all(names.map(read));
      const maps = tidy(() => heatmapsFromTensor(cam.compute(modelInput(radiographs, card.inputSize), targetClass === undefined ? null : new ClassifierOutputTarget(targetClass))));
      for (let i = 0; i < radiographs.length; i++) {
        const r = radiographs[i] as Radiograph;
        const map = maps[i] as Heatmap;
        const overlay = path.join(outDir, `${path.parse(r.key).name}.png`);
        await writeOverlayPng(overlay, r.original, map, { colormap, opacity });
        written.push({ file: r.file, overlay });
        const [ox, oy] = r.origin ?? [0, 0];
        // Boxes move with the region the image was cut to; a box wholly outside it is not scored.
        const b = boxes
          ?.get(path.resolve(r.file))
          ?.map(([x0, y0, x1, y1]): Box => [Math.max(0, x0 - ox), Math.max(0, y0 - oy), Math.min(r.original.width, x1 - ox), Math.min(r.original.height, y1 - oy)])
          .filter(([x0, y0, x1, y1]) => x1 > x0 && y1 > y0);
        // Scores at the original resolution, where the boxes were drawn.
        if (b !== undefined) scored.push({ file: r.file, heatmap: resizeHeatmap(map, r.original.width, r.original.height), boxes: b });
      }
    }
    cam.dispose();
    model.dispose();
    console.log(`${cam.method} on '${layer}': ${written.length} overlay(s) in ${outDir}`);
    if (boxes !== undefined) {
      const summary = localisationScores(scored.map((s) => s.heatmap), scored.map((s) => s.boxes));
      await mkdir(outDir, { recursive: true });
      await writeFile(path.join(outDir, 'localisation.json'), `${JSON.stringify({ method: cam.method, layer, ...summary, files: scored.map((x) => x.file) }, null, 2)}\n`);
      console.log(`pointing game ${(100 * summary.pointingGame).toFixed(1)} % (random heatmap ${(100 * summary.randomBaseline).toFixed(1)} %), heat inside boxes ${(100 * summary.energyInBoxes).toFixed(1)} %, n = ${summary.n}`);
    }
    return 0;
  },
};

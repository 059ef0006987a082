// `hipfrac models`: every architecture in the zoo with its parameter count, input size, Grad-CAM
// layer and whether its torchvision ImageNet weight file is in the weights directory.
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { buildImagenetModel, findImagenetWeights, listModels, resolveWeightsDir } from '../../models/index.js';

const usage = `Usage: hipfrac models [--weights-dir DIR] [--json]

Lists every architecture: ImageNet parameter count, input size, Grad-CAM layer, and whether its
torchvision weight file is found in DIR (default: $HIPFRAC_WEIGHTS_DIR). Missing files can be
downloaded on a connected machine from the URL shown; training from scratch needs none.`;

interface Row {
  name: string;
  family: string;
  parameters: number;
  inputSize: number;
  gradCamLayer: string;
  weightFile: string;
  weightUrl: string;
  found: string | null;
}

export const modelsCommand: CliCommand = {
  name: 'models',
  summary: 'List the architectures, their sizes, Grad-CAM layers and whether ImageNet weights are present',
  usage,
  async run(argv) {
    const { values } = parseArgs({ args: [...argv], options: { 'weights-dir': { type: 'string' }, json: { type: 'boolean', default: false } } });
    const dir = resolveWeightsDir(values['weights-dir']);
    const rows: Row[] = listModels().map((spec) => {
      // Counted from the built network (not a table), then freed at once.
      const model = buildImagenetModel(spec.name);
      const parameters = model.numParameters();
      model.dispose();
      return { name: spec.name, family: spec.family, parameters, inputSize: spec.inputSize, gradCamLayer: spec.gradCamLayer, weightFile: spec.weightFile, weightUrl: spec.weightUrl, found: findImagenetWeights(spec, dir) };
    });
    if (values.json === true) {
      console.log(JSON.stringify({ weightsDir: dir, models: rows }, null, 2));
      return 0;
    }
    const header = ['architecture', 'params', 'input', 'Grad-CAM layer', 'ImageNet weights'];
    const table = rows.map((r) => [r.name, `${(r.parameters / 1e6).toFixed(1)} M`, `${r.inputSize} px`, r.gradCamLayer, r.found !== null ? `found (${r.found})` : `missing: ${r.weightFile}`]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] as string).length)));
    const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
    console.log(line(header));
    for (const row of table) console.log(line(row));
    console.log('');
    console.log(`Weights directory: ${dir ?? 'not set (use --weights-dir or HIPFRAC_WEIGHTS_DIR)'}.`);
    const missing = rows.filter((r) => r.found === null);
    if (missing.length > 0) {
      console.log('Missing files can be downloaded on a connected machine and copied into it, e.g.:');
      for (const r of missing.slice(0, 3)) console.log(`  ${r.weightUrl}`);
      console.log('(`hipfrac models --json` lists every URL; any architecture can also be trained from scratch.)');
    }
    return 0;
  },
};

// `hipfrac pretrain`: self-supervised SimCLR pretraining of a network body on a dataset's training images (labels
// unused; validation and test images never read), written so that `hipfrac train --weights` loads it like ImageNet
// weights.
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { cachedPngPath, DataError, loadSplit, readManifestRows, requireDataset, splitPath, writeJsonAtomic } from '../../data/index.js';
import { pretrainSimclr, saveSimclrBody } from '../../train/index.js';
import { PRECISIONS, type Precision } from '../../torch/index.js';
import { CliError } from '../errors.js';
import { architectureOption, numberOption, positiveInt } from '../options.js';

const usage = `Usage: hipfrac pretrain --data DATASET --arch ARCH --out DIR [--epochs 20] [--batch-size 32]
                        [--input-size 224] [--lr 0.001] [--temperature 0.2] [--seed 0] [--workers N]
                        [--precision fp32|bf16]

SimCLR (two random views of each image, NT-Xent loss) on the training images of DATASET's split; labels are
not used and validation/test images are never read. Writes DIR/body.safetensors (torchvision key names: give it
to \`hipfrac train --weights\`) and DIR/pretrain.json (settings, images, loss per epoch). --precision bf16 runs
the forward passes in bfloat16 autocast, as \`train --precision bf16\` does (docs/training.md).`;

export const pretrainCommand: CliCommand = {
  name: 'pretrain',
  summary: 'Self-supervised pretraining (SimCLR) on the training images: a body for train --weights',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: [...argv],
      options: { data: { type: 'string' }, arch: { type: 'string' }, out: { type: 'string' }, epochs: { type: 'string' }, 'batch-size': { type: 'string' }, 'input-size': { type: 'string' }, lr: { type: 'string' }, temperature: { type: 'string' }, seed: { type: 'string' }, workers: { type: 'string' }, precision: { type: 'string' } },
    });
    for (const name of ['data', 'arch', 'out'] as const) if (values[name] === undefined) throw new CliError('HF_CLI_MISSING_OPTION', `--${name} is required.`, { input: `--${name}`, fix: usage.split('\n')[0] ?? '' });
    const arch = architectureOption(values.arch as string);
    const epochs = positiveInt(values.epochs, 20, '--epochs');
    const batchSize = positiveInt(values['batch-size'], 32, '--batch-size');
    const inputSize = positiveInt(values['input-size'], 224, '--input-size');
    const workers = positiveInt(values.workers, 2, '--workers');
    const seed = numberOption(values.seed, '--seed') ?? 0;
    const lr = numberOption(values.lr, '--lr');
    const temperature = numberOption(values.temperature, '--temperature');
    if (lr !== undefined && !(lr > 0)) throw new CliError('HF_CLI_BAD_OPTION', `--lr must be > 0, got ${lr}.`, { input: '--lr', fix: 'e.g. --lr 0.001' });
    if (temperature !== undefined && !(temperature > 0)) throw new CliError('HF_CLI_BAD_OPTION', `--temperature must be > 0, got ${temperature}.`, { input: '--temperature', fix: 'e.g. --temperature 0.2' });
    const precision = (values.precision ?? 'fp32') as Precision;
    if (!PRECISIONS.includes(precision)) throw new CliError('HF_CLI_BAD_OPTION', `--precision must be one of ${PRECISIONS.join(', ')}, got '${precision}'.`, { input: '--precision', fix: 'e.g. --precision bf16' });
    const out = values.out as string;
    if (existsSync(out) && !statSync(out).isDirectory()) throw new CliError('HF_CLI_BAD_OPTION', '--out names a file; pretraining writes a folder.', { input: out, fix: 'give a new --out folder.' });
    if (existsSync(out) && readdirSync(out).length > 0) throw new CliError('HF_CLI_BAD_OPTION', 'the output folder is not empty; a pretraining run never overwrites another.', { input: out, fix: 'give a new --out folder.' });
    const dataset = values.data as string;
    requireDataset(dataset);
    const all = await readManifestRows(dataset);
    const split = await loadSplit(dataset);
    if (split === undefined) throw new DataError('HF_DATA_NO_SPLIT', 'pretraining reads only the training images, and the dataset has no split.json.', { input: splitPath(dataset), fix: `run \`hipfrac split ${dataset}\` first.` });
    if (split.folds !== null) throw new DataError('HF_DATA_SPLIT_OPTION', `pretraining reads the training images of a train/validation/test split, and this split is ${split.folds} folds beside a test set.`, { input: splitPath(dataset), fix: `run \`hipfrac split ${dataset}\` again without --folds (on a copy of the dataset to keep the folds) before pretraining.` });
    const rows = all.filter((r) => split.assignments[r.id] === 'train');
    const result = await pretrainSimclr(rows.map((r) => cachedPngPath(dataset, r)), {
      arch,
      epochs,
      batchSize,
      inputSize,
      seed,
      workers,
      precision,
      ...(lr === undefined ? {} : { lr }),
      ...(temperature === undefined ? {} : { temperature }),
      log: (line) => console.error(line),
    });
    try {
      const card = { method: 'SimCLR (NT-Xent)', architecture: arch, images: result.images, set: 'train', epochs, batchSize, inputSize, lr: lr ?? 1e-3, temperature: temperature ?? 0.2, precision, seed, losses: result.losses, seconds: result.seconds, createdAt: new Date().toISOString() };
      mkdirSync(out, { recursive: true });
      const body = path.join(out, 'body.safetensors');
      saveSimclrBody(body, result.model, card);
      await writeJsonAtomic(path.join(out, 'pretrain.json'), card);
      console.log(`pretrained ${arch} on ${result.images} training images (${epochs} epochs, NT-Xent ${result.losses[0]?.toFixed(3)} → ${result.losses.at(-1)?.toFixed(3)}); use it with: hipfrac train --arch ${arch} --weights ${body} …`);
    } finally {
      result.model.dispose();
      result.projection.dispose();
    }
    return 0;
  },
};

// `hipfrac augment-preview`: one image under several random augmentations, written as a PNG grid (like the
// study's Figure 1), so a user can see what the training pipeline does before spending hours on it.
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { augmentBatch, decodeGrey, defaultAugmentConfig, drawAugmentParams, resolveAugmentConfig, writeGreyPng, type AugmentConfig, type AugmentParams } from '../../data/index.js';
import { Rng } from '../../util/index.js';
import { CliError } from '../errors.js';
import { numberOption, positiveInt } from '../options.js';
import { tensor, tidy } from '../../torch/index.js';

const usage = `Usage: hipfrac augment-preview --image PNG --out GRID.png [--n 8] [--seed 0] [--size 224] [--set key=value …]

Writes a grid: the image as the model sees it (resized to --size, top left), then --n augmented copies drawn
with --seed using the training augmentation (fastai defaults: flip, rotate ±10°, zoom 1–1.1, warp 0.2,
lighting 0.2, p_affine 0.75, p_lighting 0.75). --set overrides one setting, e.g. --set maxRotate=30
(keys: ${Object.keys(defaultAugmentConfig).join(', ')}).`;

function parseOverrides(settings: readonly string[]): Partial<AugmentConfig> {
  const out: Record<string, number | string> = {};
  for (const setting of settings) {
    const match = /^(\w+)=(.+)$/.exec(setting);
    if (match === null || !(match[1] as string in defaultAugmentConfig)) {
      throw new CliError('HF_CLI_BAD_OPTION', `--set expects key=value with a known key, got '${setting}'.`, { fix: `use one of: ${Object.keys(defaultAugmentConfig).join(', ')}.` });
    }
    const [, key, raw] = match as unknown as [string, keyof AugmentConfig, string];
    out[key] = typeof defaultAugmentConfig[key] === 'number' ? Number(raw) : raw;
  }
  return out as Partial<AugmentConfig>;
}

function describe(p: AugmentParams): string {
  const parts: string[] = [];
  if (p.flip) parts.push('flip');
  if (p.rotate !== 0) parts.push(`rotate ${p.rotate.toFixed(1)}°`);
  if (p.zoom !== 1) parts.push(`zoom ${p.zoom.toFixed(3)}`);
  if (p.warp[0] !== 0 || p.warp[1] !== 0) parts.push(`warp (${p.warp[0].toFixed(2)}, ${p.warp[1].toFixed(2)})`);
  if (p.brightness !== 0.5) parts.push(`brightness ${p.brightness.toFixed(3)}`);
  if (p.contrast !== 1) parts.push(`contrast ${p.contrast.toFixed(3)}`);
  return parts.length === 0 ? 'unchanged' : parts.join(', ');
}

export const augmentPreviewCommand: CliCommand = {
  name: 'augment-preview',
  summary: 'Write a grid of one image under random training augmentations',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        image: { type: 'string' },
        out: { type: 'string' },
        n: { type: 'string', default: '8' },
        seed: { type: 'string', default: '0' },
        size: { type: 'string', default: '224' },
        set: { type: 'string', multiple: true, default: [] },
      },
    });
    if (values.image === undefined || values.out === undefined) {
      throw new CliError('HF_CLI_MISSING_OPTION', `${values.image === undefined ? '--image' : '--out'} is required.`, { fix: usage.split('\n')[0] ?? '' });
    }
    const n = positiveInt(values.n, 8, '--n');
    const size = positiveInt(values.size, 224, '--size');
    const seed = numberOption(values.seed, '--seed') as number;
    const config = resolveAugmentConfig(parseOverrides(values.set));

    const pixels = await decodeGrey(values.image, { height: size, width: size }, 'squish');
    const plane = size * size;
    const original = Float32Array.from(pixels, (v) => v / 65535);
    // The same draws augmentBatch makes from this seed, for the caption lines.
    const params = drawAugmentParams(n, new Rng(seed), config);
    const augmented = tidy(() => {
      const batch = new Float32Array(n * plane);
      for (let i = 0; i < n; i++) batch.set(original, i * plane);
      return augmentBatch(tensor(batch, [n, 1, size, size]), new Rng(seed), config).toFloat32Array();
    });

    const tiles = n + 1;
    const columns = Math.ceil(Math.sqrt(tiles));
    const rows = Math.ceil(tiles / columns);
    const gap = Math.max(2, Math.round(size / 56));
    const width = columns * size + (columns - 1) * gap;
    const height = rows * size + (rows - 1) * gap;
    const grid = new Float32Array(width * height).fill(1);
    for (let t = 0; t < tiles; t++) {
      const source = t === 0 ? original : augmented.subarray((t - 1) * plane, t * plane);
      const left = (t % columns) * (size + gap);
      const top = Math.floor(t / columns) * (size + gap);
      for (let y = 0; y < size; y++) grid.set(source.subarray(y * size, (y + 1) * size), (top + y) * width + left);
    }
    await writeGreyPng(values.out, grid, width, height);
    console.log(`Wrote ${values.out}: ${values.image} at ${size} px and ${n} augmentations (seed ${seed}), ${columns}×${rows} tiles, row by row.`);
    console.log(`  tile 1: original`);
    params.forEach((p, i) => console.log(`  tile ${i + 2}: ${describe(p)}`));
    return 0;
  },
};

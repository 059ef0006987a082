// A folder-per-class radiograph-like set small enough for CI: a bone-like band across noisy soft tissue, with a
// lucent gap across the band in the "fracture" class (a CNN from scratch learns it in a few epochs at 48 px).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { importDataset, readManifestRows, splitByPatient, splitPath, writeJsonAtomic, type ManifestRow, type SplitFile, type SplitOptions } from '../../src/data/index.js';
import { Rng } from '../../src/util/index.js';

/** A bone-like bright band across noisy soft tissue; "fracture" images have a dark gap across it. */
export async function writeFolderDataset(dir: string, perClass: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const size = 64;
  for (const [name, fractured] of [['fracture', true], ['normal', false]] as const) {
    mkdirSync(path.join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = new Uint8Array(size * size);
      const x0 = rng.int(14, 34);
      const width = rng.int(10, 16);
      const gapY = rng.int(12, 50);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          let v = 60 + 30 * rng.next();
          if (x >= x0 && x < x0 + width) v += 120;
          if (fractured && x >= x0 - 1 && x < x0 + width + 1 && Math.abs(y - gapY) <= 2) v = 50 + 20 * rng.next();
          px[y * size + x] = Math.min(255, Math.round(v));
        }
      }
      await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 1 } }).png().toFile(path.join(dir, name, `img${String(i).padStart(4, '0')}.png`));
    }
  }
}


/**
 * `writeFolderDataset(WORK/folders-NAME, perClass, seed)` imported into WORK/NAME (salt WORK/salt.key) and split with
 * `split` (its split.json written): the dataset folder, its manifest rows and the split.
 */
export async function splitFolderDataset(work: string, name: string, perClass: number, seed: number, split: SplitOptions): Promise<{ dataset: string; rows: ManifestRow[]; split: SplitFile }> {
  const dataset = path.join(work, name);
  await writeFolderDataset(path.join(work, `folders-${name}`), perClass, seed);
  await importDataset({ inputDir: path.join(work, `folders-${name}`), outDir: dataset, layout: 'folders', saltFile: path.join(work, 'salt.key'), workers: 1 });
  const rows = await readManifestRows(dataset);
  const file = splitByPatient(rows, split);
  await writeJsonAtomic(splitPath(dataset), file);
  return { dataset, rows, split: file };
}

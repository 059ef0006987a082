// The FracAtlas and folder-per-class importers on a few real FracAtlas radiographs copied to a temp
// folder: labels from the layout, views from FracAtlas's columns, each image its own patient.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { importDataset, readManifestRows, parseCsv } from '../../src/data/index.js';
import { tempDir } from '../dicom/fixtures.js';

const FRACATLAS = join(process.cwd(), '..', 'shared', 'datasets', 'fracatlas-nonhip');
const { dir, cleanup } = tempDir('layouts');
process.on('exit', cleanup);
const saltFile = join(dir, 'secret', 'salt');

describe('FracAtlas and folder layouts', () => {
  it('the shared FracAtlas set is present (tests use a copy of 16 images)', () => {
    assert.ok(existsSync(join(FRACATLAS, 'labels.csv')), `missing ${FRACATLAS}`);
  });

  const records = existsSync(join(FRACATLAS, 'labels.csv')) ? parseCsv(readFileSync(join(FRACATLAS, 'labels.csv'), 'utf8')) : [];
  const header = records[0]?.fields ?? [];
  const col = (name: string): number => header.indexOf(name);
  // 8 fractured and 8 intact images with a known decodable size
  const chosen = [...records.slice(1).filter((r) => r.fields[col('fractured')] === '1' && r.fields[col('orig_width')] !== '').slice(0, 8), ...records.slice(1).filter((r) => r.fields[col('fractured')] === '0' && r.fields[col('orig_width')] !== '').slice(0, 8)];

  it('imports the FracAtlas layout with labels and views from labels.csv', async () => {
    const root = join(dir, 'fracatlas');
    mkdirSync(join(root, 'images'), { recursive: true });
    for (const r of chosen) copyFileSync(join(FRACATLAS, 'images', r.fields[col('image_id')] as string), join(root, 'images', r.fields[col('image_id')] as string));
    const csvLine = (fields: readonly string[]): string => fields.map((f) => (f.includes(',') || f.includes(';') ? `"${f}"` : f)).join(',');
    const ghost = [...((chosen[0] as { fields: string[] }).fields)];
    ghost[col('image_id')] = 'IMG_NOT_THERE.jpg';
    writeFileSync(join(root, 'labels.csv'), [header.join(','), ...chosen.map((r) => csvLine(r.fields)), csvLine(ghost)].join('\n') + '\n');
    const report = await importDataset({ inputDir: root, outDir: join(dir, 'ds-fracatlas'), layout: 'fracatlas', saltFile, maxSide: 128, workers: 2 });
    assert.equal(report.imported, 16, JSON.stringify(report.problems));
    assert.deepEqual(report.failed, { HF_DATA_MISSING_FILE: 1 });
    assert.equal(report.problems[0]?.path, 'images/IMG_NOT_THERE.jpg');
    const rows = await readManifestRows(join(dir, 'ds-fracatlas'));
    for (const r of chosen) {
      const row = rows.find((x) => x.sourcePath === `images/${r.fields[col('image_id')]}`);
      assert.equal(row?.label, Number(r.fields[col('fractured')]));
      const expectedView = r.fields[col('frontal')] === '1' ? 'AP' : r.fields[col('lateral')] === '1' ? 'lateral' : 'other';
      assert.equal(row?.view, expectedView);
      assert.ok(Math.max(row?.cacheWidth ?? 0, row?.cacheHeight ?? 0) === 128);
    }
    assert.equal(new Set(rows.map((r) => r.patientKey)).size, 16, 'each image is its own patient');
  });

  it("reads FracAtlas's hardware column into the manifest, and a corrected column on a later import", async () => {
    const root = join(dir, 'fracatlas-hardware');
    mkdirSync(join(root, 'images'), { recursive: true });
    const four = [...chosen.slice(0, 2), ...chosen.slice(8, 10)];
    for (const r of four) copyFileSync(join(FRACATLAS, 'images', r.fields[col('image_id')] as string), join(root, 'images', r.fields[col('image_id')] as string));
    const writeLabels = (hardware: readonly string[]): void => {
      const lines = four.map((r, i) => {
        const fields = [...r.fields];
        fields[col('hardware')] = hardware[i] as string;
        return fields.map((f) => (f.includes(',') ? `"${f}"` : f)).join(',');
      });
      writeFileSync(join(root, 'labels.csv'), [header.join(','), ...lines].join('\n') + '\n');
    };
    const hardwareBySource = async (): Promise<(boolean | undefined)[]> => {
      const rows = await readManifestRows(join(dir, 'ds-hardware'));
      return four.map((r) => rows.find((x) => x.sourcePath === `images/${r.fields[col('image_id')]}`)?.hardware);
    };
    writeLabels(['1', '0', '1', '']);
    const first = await importDataset({ inputDir: root, outDir: join(dir, 'ds-hardware'), layout: 'fracatlas', saltFile, maxSide: 64, workers: 2 });
    assert.equal(first.imported, 4, JSON.stringify(first.problems));
    assert.deepEqual(await hardwareBySource(), [true, false, true, undefined]);
    writeLabels(['0', '0', '1', '1']);
    const second = await importDataset({ inputDir: root, outDir: join(dir, 'ds-hardware'), layout: 'fracatlas', saltFile, maxSide: 64, workers: 2 });
    assert.equal(second.imported, 0, 'the images are already imported: only their labels change');
    assert.deepEqual(await hardwareBySource(), [false, false, true, true]);
  });

  it('imports a folder-per-class layout (PNG and JPEG); class names become labels', async () => {
    const root = join(dir, 'folders');
    for (const [cls, list] of [['fracture', chosen.slice(0, 4)], ['normal', chosen.slice(8, 12)]] as const) {
      mkdirSync(join(root, cls), { recursive: true });
      for (const [i, r] of list.entries()) {
        const src = join(FRACATLAS, 'images', r.fields[col('image_id')] as string);
        if (i % 2 === 0) copyFileSync(src, join(root, cls, `${i}.jpg`));
        else await sharp(src).greyscale().png().toFile(join(root, cls, `${i}.png`));
      }
    }
    writeFileSync(join(root, 'normal', 'broken.png'), Buffer.from('not really a png'));
    const report = await importDataset({ inputDir: root, outDir: join(dir, 'ds-folders'), layout: 'folders', saltFile, workers: 2 });
    assert.equal(report.imported, 8);
    assert.deepEqual(report.failed, { HF_DATA_IMAGE_DECODE_FAILED: 1 });
    const rows = await readManifestRows(join(dir, 'ds-folders'));
    assert.deepEqual(rows.filter((r) => r.sourcePath.startsWith('fracture/')).map((r) => r.label), [1, 1, 1, 1]);
    assert.deepEqual(rows.filter((r) => r.sourcePath.startsWith('normal/')).map((r) => r.label), [0, 0, 0, 0]);
    assert.ok(rows.every((r) => r.view === 'unknown' && r.qc.includes('unknown-view')));
  });
});

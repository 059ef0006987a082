// `hipfrac pretrain` reads the training images of the dataset's split and nothing else: every validation and test
// image's cached file is replaced by bytes no decoder accepts, so the command fails the moment it reads one; it
// succeeds, and its pretrain.json counts exactly the training images.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedPngPath, splitPath } from '../../src/data/index.js';
import { pretrainCommand } from '../../src/cli/commands/pretrain.js';
import { splitFolderDataset } from '../helpers/folders.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-pretrain-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('pretrain reads only the training images of the split: unreadable validation and test files are never opened', { timeout: 300_000 }, async () => {
  const { dataset, rows, split } = await splitFolderDataset(work, 'dataset', 12, 41, { valFraction: 0.25, testFraction: 0.25, seed: 1 });
  const setOf = (id: string): string | undefined => split.assignments[id];
  const train = rows.filter((r) => setOf(r.id) === 'train');
  const held = rows.filter((r) => setOf(r.id) === 'val' || setOf(r.id) === 'test');
  assert.equal(train.length + held.length, rows.length, 'every image is in one of the three sets');
  assert.ok(held.some((r) => setOf(r.id) === 'val') && held.some((r) => setOf(r.id) === 'test'), 'the split has validation and test images');
  assert.ok(train.length >= 8, `${train.length} training images (SimCLR needs 8)`);
  for (const r of held) writeFileSync(cachedPngPath(dataset, r), 'held out: not an image');

  // One batch holds every image the command passes on (the batch is capped at the image count, the last partial
  // batch dropped): a held-out file among them would be decoded in the single epoch.
  const out = path.join(work, 'pretrained');
  const status = await pretrainCommand.run(['--data', dataset, '--arch', 'resnet18', '--out', out, '--epochs', '1', '--batch-size', '64', '--input-size', '32', '--workers', '1', '--seed', '2']);
  assert.equal(status, 0);
  const card = JSON.parse(readFileSync(path.join(out, 'pretrain.json'), 'utf8')) as { images: number; set: string; losses: number[] };
  assert.equal(card.set, 'train');
  assert.equal(card.images, train.length, 'pretrain.json counts the training images only');
  assert.equal(card.losses.length, 1);
  assert.ok(Number.isFinite(card.losses[0]), 'one finite NT-Xent loss: the training batch was read and trained on');
});

test('pretrain refuses a k-fold split with an error that names the split file and the fix', { timeout: 120_000 }, async () => {
  const { dataset } = await splitFolderDataset(work, 'folds-dataset', 12, 43, { valFraction: 0.2, testFraction: 0.2, folds: 3, seed: 1 });
  await assert.rejects(pretrainCommand.run(['--data', dataset, '--arch', 'resnet18', '--out', path.join(work, 'folds-out'), '--epochs', '1', '--input-size', '32']), (e: Error & { input?: string; fix?: string }) => {
    assert.match(e.message, /3 folds/);
    assert.equal(e.input, splitPath(dataset));
    assert.match(e.fix ?? '', /without --folds/);
    return true;
  });
});

// Both hips of a bilateral view: the localiser gives both slots' regions for an AP view whose header says 'B' (the
// favoured one first) and one region otherwise; radiographReader classifies every region it is given and keeps the
// more suspicious crop, recording both, and without a scorer keeps the first.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { encode } from 'fast-png';
import { radiographReader, type Radiograph, type RegionOfInterest } from '../../src/data/index.js';
import { isBilateralView, LocaliserNet, predictHipRegions } from '../../src/localise/index.js';
import { tensor, tidy } from '../../src/torch/index.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-hips-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('a bilateral AP view gets both hips\' regions, the favoured first; other views one', () => {
  const net = new LocaliserNet(64);
  net.startAt([0.3, 0.5, 0.2, 0.3, 0.7, 0.5, 0.2, 0.3]);
  net.eval();
  const image = tensor(Float32Array.from({ length: 64 * 64 }, (_, i) => (i % 5) / 5), [1, 1, 64, 64]);
  tidy(() => {
    const out = net.call(image).toFloat32Array();
    const favoured = out[9]! > out[8]! ? 1 : 0;
    const centreX = (r: RegionOfInterest): number => (r[0] + r[2]) / 2;
    const [both] = predictHipRegions(net, image, [{ view: 'AP', laterality: 'B' }]);
    assert.equal(both?.length, 2);
    // one region in each half, the logits' favourite first
    assert.equal(centreX(both![0]!) < 0.5 ? 0 : 1, favoured);
    assert.equal(centreX(both![1]!) < 0.5 ? 0 : 1, 1 - favoured);
    for (const known of [{ view: 'AP', laterality: 'L' as const }, { view: 'AP', laterality: 'R' as const }, { view: 'lateral', laterality: 'B' as const }, { view: 'AP', laterality: null }, undefined]) {
      assert.equal(predictHipRegions(net, image, [known])[0]?.length, 1, JSON.stringify(known));
    }
    // a one-slot (version 1) localiser has one region whatever the header says
    const old = new LocaliserNet(64, false);
    old.eval();
    assert.equal(predictHipRegions(old, image, [{ view: 'AP', laterality: 'B' }])[0]?.length, 1);
    old.dispose();
  });
  assert.ok(isBilateralView({ view: 'AP', laterality: 'B' }) && !isBilateralView({ view: 'lateral', laterality: 'B' }) && !isBilateralView(undefined));
  image.dispose();
  net.dispose();
});

test('the reader keeps the more suspicious of two hip crops and records both; without a scorer the first', async () => {
  // 40 × 20 grey PNG: the left half dark, the right half bright.
  const width = 40, height = 20;
  const pixels = new Uint16Array(width * height).map((_, i) => (i % width < width / 2 ? 1000 : 60000));
  const file = path.join(work, 'pelvis.png');
  writeFileSync(file, encode({ width, height, data: pixels, channels: 1, depth: 16 }));
  const left: RegionOfInterest = [0, 0, 0.5, 1];
  const right: RegionOfInterest = [0.5, 0, 1, 1];
  const locate = (): RegionOfInterest[] => [left, right];
  const seen: number[] = [];
  // Scores the crop by its mean brightness: the bright (right) half is "more suspicious".
  const score = (crops: readonly Radiograph[]): number[] => {
    seen.push(crops.length);
    return crops.map((c) => c.original.data.reduce((s, v) => s + v, 0) / c.original.data.length / 65535);
  };
  const card = { crop: 'roi' };
  const kept = await radiographReader(card, undefined, locate, score)(file);
  assert.deepEqual(seen, [2]);
  assert.deepEqual(kept.origin, [20, 0]);
  assert.equal(kept.original.width, 20);
  assert.equal(kept.hips?.length, 2);
  assert.deepEqual(kept.hips?.map((h) => h.origin), [[0, 0], [20, 0]]);
  assert.ok((kept.hips?.[1]?.fractureProbability as number) > (kept.hips?.[0]?.fractureProbability as number));
  // without a scorer: the first region, no record of hips
  const first = await radiographReader(card, undefined, locate)(file);
  assert.deepEqual(first.origin, [0, 0]);
  assert.equal(first.hips, undefined);
  // one region: no scoring at all
  const one = await radiographReader(card, undefined, () => [right], score)(file);
  assert.deepEqual(one.origin, [20, 0]);
  assert.deepEqual(seen, [2]);
});

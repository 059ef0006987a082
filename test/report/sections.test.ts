// The report sections of the explain, robust and triage rooms render with the report room's helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from 'fast-png';
import { heatmapSection, robustnessSection, triageSection } from '../../src/report/sections/index.js';
import { calibratedCutoffPolicy, chooseOperatingPoints, riskCoverageCurve } from '../../src/triage/index.js';
import { Rng } from '../../src/util/index.js';

const png = encode({ width: 2, height: 2, data: new Uint8Array(12), channels: 3, depth: 8 });

test('heatmap, robustness and triage sections carry their figures', async () => {
  const heat = heatmapSection({
    method: 'Grad-CAM',
    layers: ['features.norm5'],
    items: [{ overlayPng: png, caption: 'fracture · P = 0.97', key: 'case-1', hit: true, energy: 0.62 }],
    localisation: { n: 10, pointingGame: 0.9, energyInBoxes: 0.55, randomBaseline: 0.06, perImage: [] },
  });
  assert.equal(heat.id, 'heatmaps');
  assert.match(heat.html, /Pointing game/);
  assert.match(heat.html, /90(\.0)?\s?%/);
  assert.match(heat.html, /data:image\/png;base64/);
  assert.match(heat.html, /peak in box, 62 % heat in box/);

  const robust = await robustnessSection({
    sweeps: [{ name: 'FGSM', rows: [0, 2 / 255, 8 / 255].map((eps, i) => ({ eps, n: 10, accuracy: 0.9 - 0.2 * i, attackSuccessRate: 0.2 * i, cleanCorrect: 9, flipped: 2 * i })) }],
    table: { attacks: ['FGSM 8/255'], rows: [{ defence: 'none', n: 10, clean: 0.9, attacked: { 'FGSM 8/255': 0.5 } }, { defence: 'TTA', n: 10, clean: 0.9, attacked: { 'FGSM 8/255': 0.7 } }] },
  });
  assert.equal(robust.id, 'robustness');
  assert.match(robust.html, /<svg/);
  assert.match(robust.html, /<th scope="row">TTA<\/th>/);

  const rng = new Rng(1);
  const rows: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < 1500; i++) {
    const p = rng.next();
    rows.push([1 - p, p]);
    labels.push(rng.next() < p ? 1 : 0);
  }
  const policy = calibratedCutoffPolicy(rows, labels, { targetError: 0.05 }, { operatingPoints: chooseOperatingPoints(rows.map((r) => r[1] as number), labels) });
  const tri = await triageSection({ policy, riskCoverage: riskCoverageCurve(rows, labels) });
  assert.equal(tri.id, 'triage');
  assert.match(tri.html, /Confidence cut-off/);
  assert.match(tri.html, /<svg/);
  assert.match(tri.html, /suspicious\.sensitivity/);
});

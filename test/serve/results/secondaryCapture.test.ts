// The Secondary Capture's burned-in fracture boxes: drawn in the SC's pixel geometry (source pixels → the region the
// overlay shows → the SC's resized image), in a colour the heatmap never shows, with a legend in the banner; none
// drawn when there are no boxes. A full SC with boxes passes dciodvfy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { bannerLines, boxThickness, buildSecondaryCapture, renderBannered } from '../../../src/serve/results/secondaryCapture.js';
import { dciodvfyErrors } from '../../dicom/fixtures.js';
import { needs } from '../../helpers/references.js';

const GREY = 128;
/** A uniform grey overlay PNG (an RGB radiograph region) of width × height. */
const greyPng = (width: number, height: number): Promise<Buffer> => sharp({ create: { width, height, channels: 3, background: { r: GREY, g: GREY, b: GREY } } }).png().toBuffer();
const pixel = (r: { width: number; rgb: Buffer }, x: number, y: number): [number, number, number] => {
  const i = 3 * (y * r.width + x);
  return [r.rgb[i] as number, r.rgb[i + 1] as number, r.rgb[i + 2] as number];
};
const isBoxColour = ([r, g, b]: readonly number[]): boolean => (r as number) > 200 && (g as number) < 60 && (b as number) > 200;

test('a box in source pixels is outlined at its place in the resized, cropped Secondary Capture image', async () => {
  // The overlay shows a 200×100 region starting at (50, 30) of the source; the SC scales it to 512×256 (×2.56).
  const overlay = await greyPng(200, 100);
  const drawn = { boxes: [{ box: [90, 50, 150, 90] as const, score: 0.8765 }], regionOrigin: [50, 30] as const };
  const sc = await renderBannered(overlay, 'Needs radiologist review', 0.42, drawn);
  assert.equal(sc.width, 512);
  const t = boxThickness(512);
  assert.equal(t, 2);
  // Expected edges: x (90-50)/200·512 = 102.4 → 102 … (150-50)/200·512 = 256 → last column 255; y (50-30)/100·256 = 51.2 → 51 … 153.
  const [x0, y0, x1, y1] = [102, 51, 255, 153];
  for (let x = x0 + 40; x <= x1; x += 7) {
    for (let k = 0; k < t; k++) {
      assert.ok(isBoxColour(pixel(sc, x, y0 + k)), `top edge at (${x}, ${y0 + k}): ${pixel(sc, x, y0 + k).join(',')}`);
      assert.ok(isBoxColour(pixel(sc, x, y1 - k)), `bottom edge at (${x}, ${y1 - k})`);
    }
  }
  for (let y = y0; y <= y1; y += 7) {
    for (let k = 0; k < t; k++) {
      assert.ok(isBoxColour(pixel(sc, x0 + k, y)), `left edge at (${x0 + k}, ${y})`);
      assert.ok(isBoxColour(pixel(sc, x1 - k, y)), `right edge at (${x1 - k}, ${y})`);
    }
  }
  // Away from the edges the image is untouched: inside, just outside, and where an unscaled or uncropped box would be.
  for (const [x, y] of [[178, 100], [x0 + t + 1, 100], [x0 - 2, 100], [x1 + 2, 100], [178, y1 + 2], [178, y0 + t + 1], [40, 20], [150, 90], [300, 200]] as const) {
    assert.deepEqual(pixel(sc, x, y), [GREY, GREY, GREY], `(${x}, ${y}) keeps the overlay`);
  }
  // The score sits just above the box's top-left corner, in the box colour on black.
  let labelPixels = 0;
  for (let y = y0 - 16; y < y0; y++) for (let x = x0; x < x0 + 40; x++) if (isBoxColour(pixel(sc, x, y))) labelPixels++;
  assert.ok(labelPixels > 10, `score label drawn (${labelPixels} pixels)`);
  assert.deepEqual(bannerLines('Needs radiologist review', 0.42, 1), ['Needs radiologist review - P(fracture) 42.0 %', 'Magenta: 1 predicted fracture region (score beside each)', 'AI result \u2014 not for diagnosis']);
});

test('without boxes nothing is outlined and the banner has no legend', async () => {
  const overlay = await greyPng(200, 100);
  const sc = await renderBannered(overlay, 'Needs radiologist review', 0.42, { boxes: [], regionOrigin: [0, 0] });
  const plain = await renderBannered(overlay, 'Needs radiologist review', 0.42);
  assert.equal(sc.height, plain.height);
  assert.ok(sc.rgb.equals(plain.rgb));
  for (let y = 0; y < 256; y += 3) for (let x = 0; x < 512; x += 3) assert.ok(!isBoxColour(pixel(sc, x, y)));
  assert.equal(bannerLines('No fracture', 0.1).length, 2);
});

test('a Secondary Capture with fracture boxes passes dciodvfy', needs('dicom3tools'), async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-sc-boxes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const source = {
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1',
    SOPInstanceUID: '1.2.826.0.1.3680043.10.1078.1.2',
    StudyInstanceUID: '1.2.826.0.1.3680043.10.1078.1',
    PatientName: 'Test^Boxes',
    PatientID: 'P1',
    PatientBirthDate: '19500101',
    PatientSex: 'F',
    StudyDate: '20260101',
    StudyTime: '120000',
    AccessionNumber: 'A1',
    ReferringPhysicianName: '',
    StudyID: '1',
  };
  const bytes = await buildSecondaryCapture({
    overlayPng: await greyPng(300, 200),
    source,
    sopInstanceUid: '1.2.826.0.1.3680043.10.1078.1.3',
    seriesInstanceUid: '1.2.826.0.1.3680043.10.1078.1.4',
    seriesNumber: 9902,
    instanceNumber: 1,
    decision: 'Needs radiologist review',
    fractureProbability: 0.6,
    boxes: { boxes: [{ box: [10, 10, 100, 80], score: 0.9 }, { box: [150, 120, 290, 190], score: 0.7 }], regionOrigin: [0, 0] },
    created: new Date('2026-01-01T12:00:00Z'),
  });
  const file = path.join(dir, 'sc.dcm');
  writeFileSync(file, bytes);
  assert.deepEqual(dciodvfyErrors(file), []);
});

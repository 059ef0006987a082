// Quality control: a sharp radiograph-like image passes, its blurred and flattened versions are flagged,
// tiny and unknown-view images are flagged, and the summary counts what the rows say.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_QC, qcFlags, qcMetrics, qcTable, summariseQc, type GreyImage, type ManifestRow } from '../../src/data/index.js';

function sharpImage(size = 256): GreyImage {
  const data = new Uint16Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // bone-like bars with hard edges on a soft ramp, plus fine texture
      const bar = Math.floor(x / 16) % 2 === 0 ? 0.35 : 0;
      const texture = ((x * 7 + y * 13) % 5) / 40;
      data[y * size + x] = Math.round(Math.min(1, 0.2 + (y / size) * 0.3 + bar + texture) * 65535);
    }
  }
  return { width: size, height: size, data };
}

function boxBlur(image: GreyImage, radius: number): GreyImage {
  const { width, height, data } = image;
  const out = new Uint16Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      let n = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        for (let dx = -radius; dx <= radius; dx++) {
          const yy = Math.min(height - 1, Math.max(0, y + dy));
          const xx = Math.min(width - 1, Math.max(0, x + dx));
          sum += data[yy * width + xx] as number;
          n++;
        }
      }
      out[y * width + x] = Math.round(sum / n);
    }
  }
  return { width, height, data: out };
}

describe('quality control flags', () => {
  it('a sharp image is not flagged; the same image blurred is', () => {
    const sharp = sharpImage();
    assert.deepEqual(qcFlags(qcMetrics(sharp), 2000, 2000, 'AP'), []);
    const blurred = boxBlur(sharp, 4);
    const metrics = qcMetrics(blurred);
    assert.ok(metrics.laplacianVariance < qcMetrics(sharp).laplacianVariance / 10);
    assert.deepEqual(qcFlags(metrics, 2000, 2000, 'AP'), ['blurred']);
  });

  it('near-uniform and low-contrast images are flagged', () => {
    const flat: GreyImage = { width: 64, height: 64, data: new Uint16Array(64 * 64).fill(30000) };
    assert.ok(qcFlags(qcMetrics(flat), 2000, 2000, 'AP').includes('near-uniform'));
    const sharp = sharpImage(128);
    const faint: GreyImage = { ...sharp, data: sharp.data.map((v) => 20000 + Math.round(v / 8)) };
    const m = qcMetrics(faint);
    assert.ok(m.std >= DEFAULT_QC.minStd && m.contrast < DEFAULT_QC.minContrast, JSON.stringify(m));
    assert.ok(qcFlags(qcMetrics(faint), 2000, 2000, 'AP').includes('low-contrast'));
  });

  it('tiny originals and unknown views are flagged', () => {
    const metrics = qcMetrics(sharpImage(128));
    assert.ok(qcFlags(metrics, 200, 300, 'AP').includes('tiny'));
    assert.ok(!qcFlags(metrics, DEFAULT_QC.minSide, 3000, 'AP').includes('tiny'));
    assert.ok(qcFlags(metrics, 2000, 2000, 'unknown').includes('unknown-view'));
  });

  it('the summary table counts flags from the rows', () => {
    const rows = [{ qc: ['blurred', 'tiny'] }, { qc: [] }, { qc: ['tiny'] }] as unknown as ManifestRow[];
    const summary = summariseQc(rows);
    assert.equal(summary.flagged, 2);
    assert.equal(summary.byFlag.tiny, 2);
    assert.match(qcTable(summary), /\| tiny \| 2 \| 66\.7 % \|/);
  });
});

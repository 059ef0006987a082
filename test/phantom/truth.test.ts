// Ground truth is right: rendering the same patient with and without its fracture changes pixels only inside the
// annotated box; the mask lies in the box; the fracture line lies on it; negatives carry the same would-be region.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FRACTURE_TYPES, decodeMaskRle, planCohort, renderImage, type PlannedImage } from '../../src/phantom/index.js';

const SIZE = 160;

function fracturedImages(difficulty: 'easy' | 'standard' | 'hard', patients: number, seed: number): PlannedImage[] {
  return planCohort({ patients, seed, difficulty, size: SIZE, prevalence: 1 }).flatMap((p) => p.images);
}

describe('phantom ground truth', () => {
  const cases = [...fracturedImages('easy', 14, 11), ...fracturedImages('standard', 14, 12), ...fracturedImages('hard', 14, 13)];

  it('covers every fracture type and view in the sample', () => {
    const types = new Set(cases.map((c) => c.spec.fracture?.type));
    const views = new Set(cases.map((c) => c.spec.view.kind));
    for (const t of FRACTURE_TYPES) assert.ok(types.has(t), `no ${t} fracture in the sample`);
    assert.equal(views.size, 3);
  });

  it('every pixel that the fracture changes lies inside the annotated box', () => {
    let changedTotal = 0;
    for (const image of cases) {
      const withFracture = renderImage(image.spec);
      const without = renderImage(image.spec, { withoutFracture: true });
      assert.equal(withFracture.label, 1);
      assert.equal(without.label, 0);
      assert.equal(withFracture.fractures.length, 1, `image ${image.index}: one fracture annotated`);
      const f = withFracture.fractures[0];
      assert.ok(f !== undefined);
      const [x0, y0, x1, y1] = f.box;
      assert.ok(x0 < x1 && y0 < y1, `image ${image.index}: empty box`);
      let changed = 0;
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          const i = y * SIZE + x;
          if (withFracture.pixels[i] === without.pixels[i]) continue;
          changed++;
          assert.ok(x >= x0 && x < x1 && y >= y0 && y < y1, `image ${image.index} (${image.spec.view.kind}, ${f.type}): pixel (${x}, ${y}) changed outside box ${f.box.join(',')}`);
        }
      }
      changedTotal += changed;
      // The negative rendering carries the same would-be region, so tests can mask both classes alike.
      assert.deepEqual(without.candidateRegion?.box, f.box);
    }
    assert.ok(changedTotal > cases.length * 5, `fractures change almost nothing (${changedTotal} pixels over ${cases.length} images)`);
  });

  it('the mask lies inside the box and is not empty; the fracture line lies inside the box', () => {
    for (const image of cases) {
      const f = renderImage(image.spec).fractures[0];
      assert.ok(f !== undefined);
      const mask = decodeMaskRle(f.mask);
      assert.equal(mask.length, SIZE * SIZE);
      let area = 0;
      mask.forEach((v, i) => {
        if (v === 0) return;
        area++;
        const x = i % SIZE;
        const y = Math.floor(i / SIZE);
        assert.ok(x >= f.box[0] && x < f.box[2] && y >= f.box[1] && y < f.box[3], `mask pixel (${x}, ${y}) outside the box`);
      });
      assert.equal(area, f.maskArea);
      assert.ok(area > 0, `image ${image.index}: empty mask`);
      // The centre of the fracture line is on the bone, so inside the box (the ends may run past the cortex).
      const mid = f.line[Math.floor(f.line.length / 2)];
      assert.ok(mid !== undefined);
      assert.ok(mid[0] >= f.box[0] - 1 && mid[0] <= f.box[2] + 1 && mid[1] >= f.box[1] - 1 && mid[1] <= f.box[3] + 1, `line centre ${mid.join(',')} outside ${f.box.join(',')}`);
    }
  });

  it('easy fractures change the image far more than hard ones (the difficulty knob means something)', () => {
    const change = (d: 'easy' | 'hard'): number => {
      const imgs = fracturedImages(d, 30, 99).filter((i) => i.spec.view.kind !== 'LATERAL_HIP');
      let total = 0;
      for (const i of imgs) {
        const a = renderImage(i.spec);
        const b = renderImage(i.spec, { withoutFracture: true });
        const scale = 1 / ((1 << a.bitsStored) - 1);
        for (let k = 0; k < a.pixels.length; k++) total += Math.abs((a.pixels[k] as number) - (b.pixels[k] as number)) * scale;
      }
      return total / imgs.length;
    };
    const easy = change('easy');
    const hard = change('hard');
    assert.ok(easy > 2 * hard, `mean summed |difference| easy ${easy.toFixed(1)} vs hard ${hard.toFixed(1)}`);
  });

  it('rendering is pure: the same spec gives the same pixels twice', () => {
    const image = cases[0];
    assert.ok(image !== undefined);
    assert.deepEqual(renderImage(image.spec).pixels, renderImage(image.spec).pixels);
  });
});

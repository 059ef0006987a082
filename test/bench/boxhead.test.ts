// The box head study's pieces: the grid ceiling of the strict pointing game (a box holds a cell centre or not) and the
// training arguments of each variant (the script's recipe with only the box options, and a longer variant's epochs, changed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gridCeiling, variantArgs, VARIANTS } from '../../bench/lib/boxhead.js';

describe('bench/boxhead', () => {
  it('counts an image when one of its boxes holds a cell centre of the grid', () => {
    // 96 px, 3 × 3 grid: cell centres at 16, 48, 80.
    const onCentre = [[40, 40, 56, 56]] as const; // holds (48, 48)
    const between = [[20, 20, 40, 40]] as const; // no centre inside
    const twoBoxes = [[0, 0, 10, 10], [75, 10, 85, 20]] as const; // the second holds (80, 16)
    assert.equal(gridCeiling([onCentre, between, twoBoxes, between], 96, 3), 0.5);
    // A finer grid (6 × 6: centres every 16 px from 8) reaches the box between the coarse centres.
    assert.equal(gridCeiling([between], 96, 6), 1);
  });

  it('gives each variant the same recipe and only its own box options', () => {
    const [last, ...others] = VARIANTS.map((v) => variantArgs(v, '/d', `/r/${v.name}`, 320, 4));
    // The box options, the epochs of a variant that names its own (patience follows them, so none stops early), and a
    // repeat's seed and epoch monitor, and the progressive variant's size steps.
    const own = ['--box-peak-weight', '--box-head', '--unfrozen-epochs', '--patience', '--seed', '--monitor', '--progressive'];
    const strip = (a: string[]): string[] => a.filter((x, i) => x !== '--no-augment' && !own.includes(x) && !own.includes(a[i - 1] ?? '') && !x.startsWith('/r/'));
    for (const o of others) assert.deepEqual(strip(o), strip(last as string[]));
    const fine = variantArgs(VARIANTS.find((v) => v.name === 'fine-peak') as (typeof VARIANTS)[number], '/d', '/o', 320, 4);
    assert.equal(fine[fine.indexOf('--box-head') + 1], 'fine');
    assert.equal(fine[fine.indexOf('--box-peak-weight') + 1], '1');
    assert.equal(fine[fine.indexOf('--input-size') + 1], '320');
    assert.ok(!(last as string[]).includes('--box-head') && (last as string[]).includes('--box-loss-weight'));
    const longer = variantArgs(VARIANTS.find((v) => v.name === 'fine-peak-6ep') as (typeof VARIANTS)[number], '/d', '/o', 320, 4);
    assert.equal(longer[longer.indexOf('--unfrozen-epochs') + 1], '6');
    assert.equal(longer[longer.indexOf('--patience') + 1], '6');
    assert.equal((last as string[])[(last as string[]).indexOf('--unfrozen-epochs') + 1], '4');
    const progressive = variantArgs(VARIANTS.find((v) => v.name === 'fine-peak-aug-prog-13ep') as (typeof VARIANTS)[number], '/d', '/o', 320, 4);
    assert.equal(progressive[progressive.indexOf('--progressive') + 1], '160:4,224:4');
    assert.equal(progressive[progressive.indexOf('--unfrozen-epochs') + 1], '13');
    // Augmentation is off unless a variant asks for it (the training loader then warps the boxes with the images).
    VARIANTS.forEach((v) => assert.equal(variantArgs(v, '/d', '/o', 320, 4).includes('--no-augment'), v.augment !== true, v.name));
    assert.ok(VARIANTS.some((v) => v.augment === true));
    // Seeds: 42 unless a repeat names its own; the monitor's repeat differs from its seed's run by the monitor alone.
    const argsOf = (name: string): string[] => variantArgs(VARIANTS.find((v) => v.name === name) as (typeof VARIANTS)[number], '/d', '/o', 320, 4);
    const seedOf = (a: string[]): string | undefined => a[a.indexOf('--seed') + 1];
    assert.equal(seedOf(argsOf('fine-peak-aug-8ep')), '42');
    assert.equal(seedOf(argsOf('fine-peak-aug-8ep-seed1')), '1');
    const auc = argsOf('fine-peak-aug-8ep-seed1-auc');
    assert.equal(auc[auc.indexOf('--monitor') + 1], 'roc-auc');
    assert.deepEqual(auc.filter((x, i) => x !== '--monitor' && auc[i - 1] !== '--monitor'), argsOf('fine-peak-aug-8ep-seed1'));
  });
});

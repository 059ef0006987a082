// The region-jitter setting: off by default (it did not raise the AUC on the localiser's regions), turned on or set
// with --region-jitter, checked with the rest of the config, documented in `train --help`, and given by the
// training run to its training loader only (validation and test cut the regions as given).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultRegionJitter } from '../../src/data/index.js';
import { configFromFlags, trainCommand } from '../../src/cli/commands/train.js';
import { loaderRegionJitter } from '../../src/cli/pipeline/trainRun.js';
import { paperProtocol, resolveConfig } from '../../src/train/index.js';
import { HipfracError } from '../../src/util/index.js';

test('crop roi trains on the exact regions by default; --region-jitter on or S,LO,HI jitters them', () => {
  assert.equal(paperProtocol.regionJitter, null, 'the study (and a config.json from before the option) keeps exact regions');
  assert.equal(resolveConfig({}).regionJitter, null);
  assert.equal(resolveConfig({ crop: 'roi' }).regionJitter, null);
  assert.equal(configFromFlags({ crop: 'roi' }).regionJitter, null);
  assert.deepEqual(configFromFlags({ crop: 'roi', 'region-jitter': 'on' }).regionJitter, defaultRegionJitter);
  assert.equal(configFromFlags({ crop: 'roi', 'region-jitter': 'off' }).regionJitter, null);
  assert.deepEqual(configFromFlags({ crop: 'roi', 'region-jitter': '0.1, 0.9,1.15' }).regionJitter, { shift: 0.1, scale: [0.9, 1.15] });
});

test('a bad --region-jitter is a usage error naming the problem', () => {
  for (const [value, words] of [['0.1,0.9', /three numbers/], ['x,0.9,1.1', /three numbers/], ['0.7,0.9,1.1', /shift must be/], ['0.1,1.1,1.2', /scale must be/], ['0.1,0.9,2.5', /scale must be/]] as const) {
    assert.throws(() => configFromFlags({ crop: 'roi', 'region-jitter': value }), (e: unknown) => e instanceof HipfracError && e.code === 'HF_CLI_BAD_OPTION' && words.test(e.message), value);
  }
  assert.throws(() => resolveConfig({ crop: 'roi', regionJitter: { shift: 0.1 } }), (e: unknown) => e instanceof HipfracError && e.code === 'HF_TRAIN_BAD_CONFIG' && /regionJitter/.test(e.message));
});

test('train --help documents --region-jitter', () => {
  assert.match(trainCommand.usage, /--region-jitter S,LO,HI\|on\|off/);
  assert.match(trainCommand.usage, /default off: the exact regions; on: 0\.12,0\.85,1\.2/);
});

test('the training run jitters its training loader only, and only for crop roi', () => {
  const roi = resolveConfig({ crop: 'roi', regionJitter: defaultRegionJitter });
  assert.deepEqual(loaderRegionJitter(roi, 'train'), defaultRegionJitter);
  assert.equal(loaderRegionJitter(roi, 'valid'), null);
  assert.equal(loaderRegionJitter(roi, 'test'), null);
  assert.equal(loaderRegionJitter({ crop: 'none', regionJitter: defaultRegionJitter }, 'train'), null, 'whole images have no region to move');
  assert.equal(loaderRegionJitter({ ...roi, regionJitter: null }, 'train'), null);
});

// View from the header: View Position first, then Series Description and Protocol Name, else unknown.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { viewFromHeader } from '../../src/data/index.js';

const none = { viewPosition: undefined, imageLaterality: undefined, seriesDescription: undefined, protocolName: undefined };

describe('view from the DICOM header', () => {
  it('View Position AP/PA is AP, LL/RL/LAT lateral, anything else other', () => {
    assert.deepEqual(viewFromHeader({ ...none, viewPosition: 'PA' }), { view: 'AP', source: 'ViewPosition' });
    assert.deepEqual(viewFromHeader({ ...none, viewPosition: 'LL', seriesDescription: 'Hip AP' }), { view: 'lateral', source: 'ViewPosition' });
    assert.equal(viewFromHeader({ ...none, viewPosition: 'LLO' }).view, 'other');
  });

  it('falls back to Series Description, then Protocol Name', () => {
    assert.deepEqual(viewFromHeader({ ...none, seriesDescription: 'HIP LAUENSTEIN LEFT' }), { view: 'lateral', source: 'SeriesDescription' });
    assert.deepEqual(viewFromHeader({ ...none, seriesDescription: 'Pelvis', protocolName: 'PELVIS A.P.' }), { view: 'AP', source: 'ProtocolName' });
    assert.deepEqual(viewFromHeader({ ...none, protocolName: 'Hip cross-table' }), { view: 'lateral', source: 'ProtocolName' });
  });

  it('is unknown when nothing says (and does not guess from words inside other words)', () => {
    assert.deepEqual(viewFromHeader(none), { view: 'unknown', source: 'none' });
    assert.equal(viewFromHeader({ ...none, seriesDescription: 'CAPACITY LATERALITY TEST' }).view, 'unknown');
  });
});

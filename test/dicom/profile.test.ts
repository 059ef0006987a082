// hipfrac's PS3.15 Basic Profile table checked row by row against an independent machine-readable copy of
// Table E.1-1 (test/dicom/reference/ps3.15-table-e1-1.tsv, extracted from the standard by innolitics/dicom-standard).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BASIC_PROFILE, profileAction } from '../../src/dicom/index.js';

interface ReferenceRow {
  readonly tag: string;
  readonly action: string;
  readonly name: string;
}

function referenceRows(): ReferenceRow[] {
  const file = new URL('../../../test/dicom/reference/ps3.15-table-e1-1.tsv', import.meta.url);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [tag, action, name] = line.split('\t');
      return { tag: tag as string, action: action as string, name: name as string };
    });
}

/** The actions a compound code allows: X/Z/U* → X, Z or U (U* means "U on the UIDs inside the sequence"). */
const allowed = (action: string): Set<string> => new Set(action.split('/').map((a) => a.replace('*', '')));
const tagNumber = (tag: string): number => parseInt(tag.replace(/[(),]/g, ''), 16) >>> 0;

describe('PS3.15 Table E.1-1, independent copy', () => {
  const rows = referenceRows();

  it('the reference copy is the whole table (over 450 rows), not a sample', () => {
    assert.ok(rows.length > 450, `${rows.length} rows`);
  });

  it('every row of the standard has a row in hipfrac\'s table with one of its allowed actions', () => {
    const failures: string[] = [];
    for (const row of rows) {
      if (!/^\([0-9A-F]{4},[0-9A-F]{4}\)$/.test(row.tag)) continue; // ranges: checked below
      const ours = profileAction(tagNumber(row.tag));
      if (ours === undefined) failures.push(`${row.tag} ${row.name}: missing (standard: ${row.action})`);
      else if (!allowed(row.action).has(ours)) failures.push(`${row.tag} ${row.name}: ${ours}, standard allows ${row.action}`);
    }
    assert.deepEqual(failures, []);
  });

  it('the standard\'s range rows hold: curves (50xx), overlay data/comments (60xx,3000/4000) and private groups are removed', () => {
    const ranges = rows.filter((r) => !/^\([0-9A-F]{4},[0-9A-F]{4}\)$/.test(r.tag)).map((r) => r.tag);
    assert.deepEqual(ranges.sort(), ['(50xx,xxxx)', '(60xx,3000)', '(60xx,4000)', '(gggg,eeee) odd'].sort());
    for (const tag of [0x50000010, 0x501e3000, 0x60003000, 0x601e4000, 0x00090010, 0x00091001, 0x7fe10010, 0x00291010]) {
      assert.equal(profileAction(tag), 'X', `tag ${tag.toString(16)}`);
    }
  });

  it('rows hipfrac adds beyond the standard (from older editions) only remove (X) or replace UIDs (U)', () => {
    const standard = new Set(rows.map((r) => r.tag).filter((t) => t.startsWith('(') && !t.includes('x')).map(tagNumber));
    const extra = BASIC_PROFILE.filter((e) => !standard.has(e.tag) && e.action !== 'X' && e.action !== 'U');
    assert.deepEqual(extra.map((e) => `${e.keyword} ${e.action}`), []);
  });
});

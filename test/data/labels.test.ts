// Label CSV parsing and joining: quoting, column discovery, bad rows with line numbers and reasons,
// conflicting duplicates, and path joins by relative path or unique file name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabelIndex, parseCsv, parseLabelTable } from '../../src/data/index.js';

describe('CSV parsing', () => {
  it('handles quotes, embedded commas, doubled quotes, newlines in fields and CRLF', () => {
    const records = parseCsv('a,b\r\n"x, y","say ""hi"""\r\n"multi\nline",2\n');
    assert.deepEqual(records.map((r) => r.fields), [['a', 'b'], ['x, y', 'say "hi"'], ['multi\nline', '2']]);
    assert.deepEqual(records.map((r) => r.line), [1, 2, 3]);
  });
});

describe('label tables', () => {
  const csv = ['SOPInstanceUID,Fractured,note', '1.2.3,1,a', '1.2.4,no,b', '1.2.5,perhaps,c', '1.2.6,1', ',0,d', '1.2.7,1,e', '1.2.7,0,f', '1.2.8,yes,g', '1.2.8,yes,h'].join('\n');

  it('finds the key and label columns by their usual names and maps label words', () => {
    const table = parseLabelTable(csv, 'labels.csv', { join: 'sop' });
    assert.equal(table.keyColumn, 'SOPInstanceUID');
    assert.equal(table.labelColumn, 'Fractured');
    const labels = Object.fromEntries(table.rows.map((r) => [r.key, r.label]));
    assert.deepEqual(labels, { '1.2.3': 1, '1.2.4': 0, '1.2.8': 1 });
  });

  it('reports each bad row with its line and reason; a conflicting key is dropped entirely', () => {
    const table = parseLabelTable(csv, 'labels.csv', { join: 'sop' });
    const byLine = Object.fromEntries(table.bad.map((b) => [b.line, b.reason]));
    assert.match(byLine[4] ?? '', /perhaps/);
    assert.match(byLine[5] ?? '', /2 fields/);
    assert.match(byLine[6] ?? '', /empty/);
    assert.match(byLine[8] ?? '', /line 7 gave 1/);
    assert.match(byLine[10] ?? '', /repeats/);
    assert.ok(!table.rows.some((r) => r.key === '1.2.7'), 'neither of two disagreeing rows is trusted');
  });

  it('names the missing column and the header when a join column is absent', () => {
    assert.throws(() => parseLabelTable('id,label\n1,0\n', 'x.csv', { join: 'accession' }), /accession key column.*id, label/);
  });

  it('joins by relative path, then by a unique file name; unmatched rows are listed', () => {
    const table = parseLabelTable('path,label\nsite/a/IMG1.dcm,1\nIMG2.dcm,0\nb/IMG3.dcm,1\nc/IMG3.dcm,0\nmissing.dcm,1\n', 'p.csv', { join: 'path' });
    const index = new LabelIndex(table);
    assert.equal(index.lookup('site/a/IMG1.dcm')?.label, 1);
    assert.equal(index.lookup('deep/folder/IMG2.dcm')?.label, 0, 'unique file name matches anywhere');
    assert.equal(index.lookup('other/IMG3.dcm'), undefined, 'an ambiguous file name does not match');
    assert.deepEqual(index.unmatched().map((r) => r.key), ['b/IMG3.dcm', 'c/IMG3.dcm', 'missing.dcm']);
  });
});

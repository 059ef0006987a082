// Label CSV parsing and joining: quoting, BOM, ';' exports, CRLF, column discovery, the one class vocabulary,
// bad rows with line numbers and reasons, conflicting duplicates, and path joins; the strict reader the model
// commands (predict, attack, triage-calibrate) use.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { classIndexOf, FRACTURE_CLASSES, LabelIndex, parseCsv, parseLabelTable, readImageLabels } from '../../src/data/index.js';
import { HipfracError } from '../../src/util/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-labels-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function csvFile(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Asserts a rejection with this code whose message matches every pattern. */
async function rejectsWith(promise: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof HipfracError, `a coded error, got ${String(e)}`);
    assert.equal(e.code, code);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

describe('CSV parsing', () => {
  it('handles quotes, embedded commas, doubled quotes, newlines in fields and CRLF', () => {
    const records = parseCsv('a,b\r\n"x, y","say ""hi"""\r\n"multi\nline",2\n');
    assert.deepEqual(records.map((r) => r.fields), [['a', 'b'], ['x, y', 'say "hi"'], ['multi\nline', '2']]);
    assert.deepEqual(records.map((r) => r.line), [1, 2, 3]);
  });

  it('drops a byte-order mark, reads semicolon exports, skips empty lines and keeps each record\'s first line', () => {
    const records = parseCsv('\ufefffile;label\r\n"a;b.png";1\r\n\r\n"two\r\nlines.png";0\r\nc.png;yes\r\n');
    assert.deepEqual(records.map((r) => r.fields), [['file', 'label'], ['a;b.png', '1'], ['two\r\nlines.png', '0'], ['c.png', 'yes']]);
    assert.deepEqual(records.map((r) => r.line), [1, 2, 4, 6]);
  });

  it('rejects an unclosed quote with a coded error naming the line', () => {
    assert.throws(() => parseCsv('file,label\na.png,1\n"b.png,0\n', 'x.csv'), (e: unknown) => e instanceof HipfracError && e.code === 'HF_DATA_CSV_MALFORMED' && /line 3/.test(e.message) && /x\.csv/.test(e.message));
  });
});

describe('class vocabulary', () => {
  it('maps the same words for every command: names, indices, spacing and case ignored', () => {
    for (const word of ['1', 'fracture', 'Fractured', ' YES ', 'positive', 'true']) assert.equal(classIndexOf(word, FRACTURE_CLASSES), 1, word);
    for (const word of ['0', 'no fracture', 'No-Fracture', 'no_fracture', 'normal', 'intact', 'no', 'false']) assert.equal(classIndexOf(word, FRACTURE_CLASSES), 0, word);
    for (const word of ['', '2', 'perhaps', '-1', '0.5']) assert.equal(classIndexOf(word, FRACTURE_CLASSES), undefined, word);
    assert.equal(classIndexOf('2'), 2, 'an import without a class list takes any index');
    assert.equal(classIndexOf('fracture', ['a', 'b', 'c']), undefined, 'binary words do not name a class of a three-class model');
    assert.equal(classIndexOf('B', ['a', 'b', 'c']), 1);
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

describe('labels of the images a model command runs on', () => {
  const classes = ['no fracture', 'fracture'];

  it('reads quoted, BOM, CRLF and semicolon files; matches by path relative to the CSV or by the path\'s tail', async () => {
    mkdirSync(path.join(dir, 'imgs'), { recursive: true });
    const file = csvFile('good.csv', '\ufeffFile;Label\r\nimgs/a.png;fracture\r\n"imgs/b, 2.png";No Fracture\r\nc.png;1\r\n');
    const labels = await readImageLabels(file, classes);
    assert.equal(labels.labelOf(path.join(dir, 'imgs', 'a.png')), 1);
    assert.equal(labels.labelOf(path.join(dir, 'imgs', 'b, 2.png')), 0);
    assert.equal(labels.labelOf('/elsewhere/c.png'), 1, 'a bare file name matches the tail');
    assert.equal(labels.labelOf(path.join(dir, 'imgs', 'd.png')), undefined);
  });

  it('refuses an empty label naming its line (it used to become "no fracture")', async () => {
    await rejectsWith(readImageLabels(csvFile('empty.csv', 'file,label\na.png,1\nb.png,\n'), classes), 'HF_DATA_LABELS', /line 3: empty label/);
  });

  it('refuses an unknown label naming its line and the words allowed', async () => {
    await rejectsWith(readImageLabels(csvFile('unknown.csv', 'file,label\na.png,perhaps\n'), classes), 'HF_DATA_LABELS', /line 2: label "perhaps"/, /not a known class/, /fracture/);
  });

  it('refuses a repeated row and a conflicting row (the last one used to win silently)', async () => {
    await rejectsWith(readImageLabels(csvFile('dup.csv', 'file,label\na.png,1\na.png,1\n'), classes), 'HF_DATA_LABELS', /line 3: repeats key "a\.png" of line 2/);
    await rejectsWith(readImageLabels(csvFile('conflict.csv', 'file,label\na.png,1\nb.png,0\na.png,0\n'), classes), 'HF_DATA_LABELS', /line 4: gives key "a\.png" label 0, but line 2 gave 1/);
  });

  it('refuses an index beyond the model\'s classes and a header without a label column', async () => {
    await rejectsWith(readImageLabels(csvFile('index.csv', 'file,label\na.png,2\n'), classes), 'HF_DATA_LABELS', /line 2/);
    await rejectsWith(readImageLabels(csvFile('header.csv', 'file,verdict\na.png,1\n'), classes), 'HF_DATA_LABELS', /no label column/);
  });

  it('a missing file is a coded error with the fix, not a raw ENOENT', async () => {
    await rejectsWith(readImageLabels(path.join(dir, 'nope.csv'), classes), 'HF_DATA_LABELS_MISSING', /ENOENT/, /Fix: check the --labels path/);
  });
});

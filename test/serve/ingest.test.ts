// Ingest's group commit: objects arriving at once (several associations) are recorded in one durable transaction,
// each in its own savepoint — every one is kept with its job, and one whose record fails is refused alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { writeDicom } from '../../src/dicom/index.js';
import { createServeLogger } from '../../src/serve/log.js';
import { Ingest } from '../../src/serve/receive/ingest.js';
import { openStore } from '../../src/serve/store/index.js';

function image(n: number): Buffer {
  const pixels = new Uint16Array(16).map((_, i) => i * n);
  return writeDicom({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1', SOPInstanceUID: `2.25.500${n}`, StudyInstanceUID: `2.25.60${n % 2}`, SeriesInstanceUID: '2.25.70',
    PatientID: 'PID-9', PatientName: 'Doe^John', Modality: 'DX', Rows: 4, Columns: 4, BitsAllocated: 16, BitsStored: 12, HighBit: 11,
    PixelRepresentation: 0, SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', PixelData: [pixels.buffer],
  }, { transferSyntaxUid: '1.2.840.10008.1.2.1' });
}

test('objects arriving together share one durable commit; a record that fails is refused alone, the others kept', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-ingest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { store, blobs } = openStore(dir, { minFreeBytes: 0 });
  t.after(() => store.close());
  const ingest = new Ingest(store, blobs, createServeLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) }), { maxObjectBytes: 1 << 20 });
  // Count the committing transactions (each ends with a disk flush), and make the record of one object fail.
  let commits = 0;
  const durableTransaction = store.durableTransaction.bind(store);
  store.durableTransaction = <T>(fn: () => T): Promise<T> => {
    commits++;
    return durableTransaction(fn);
  };
  const recordInstance = store.recordInstance.bind(store);
  store.recordInstance = (instance) => {
    if (instance.sopInstanceUid === '2.25.5003') throw new Error('simulated failure');
    return recordInstance(instance);
  };
  // The files of all six are written before any is recorded (as when six associations deliver at once).
  const put = blobs.put.bind(blobs);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let waiting = 0;
  blobs.put = async (bytes, kind, extension) => {
    const stored = await put(bytes, kind, extension);
    if (++waiting === 6) release();
    await gate;
    return stored;
  };
  const outcomes = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => ingest.accept(image(n), 'ae:TEST')));
  assert.deepEqual(outcomes.map((o) => o.kind), ['stored', 'stored', 'refused', 'stored', 'stored', 'stored']);
  assert.equal(outcomes[2]?.kind === 'refused' && outcomes[2].code, 'store-failed');
  assert.equal(commits, 1, 'one commit (one disk flush) for the six');
  for (const n of [1, 2, 4, 5, 6]) assert.equal(store.getInstance(`2.25.500${n}`)?.status, 'stored');
  assert.equal(store.getInstance('2.25.5003'), undefined, 'nothing of the failed record is kept');
  assert.equal(store.queueDepth(), 5);
  assert.equal(store.auditLog(50).filter((a) => a.action === 'receive').length, 5, 'one audit line per kept object, none for the refused one');
});

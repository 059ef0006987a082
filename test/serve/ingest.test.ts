// Ingest's group commit: objects arriving at once (several associations) are recorded in one durable transaction,
// each in its own savepoint — every one is kept with its job, and one whose record fails is refused alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  const stage = blobs.stage.bind(blobs);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let waiting = 0;
  blobs.stage = async (bytes, kind, extension) => {
    const staged = await stage(bytes, kind, extension);
    if (++waiting === 6) release();
    await gate;
    return staged;
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

function quietIngest(dir: string, confirmAfterMs?: number) {
  const { store, blobs } = openStore(dir, { minFreeBytes: 0 });
  const ingest = new Ingest(store, blobs, createServeLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) }), { maxObjectBytes: 1 << 20, ...(confirmAfterMs === undefined ? {} : { confirmAfterMs }) });
  return { store, blobs, ingest };
}

test('stored images wait in received and are queued together by one commit, then the scheduler is woken once', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-ingest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A wait longer than the test: only confirmPending queues them.
  const { store, ingest } = quietIngest(dir, 600_000);
  t.after(() => store.close());
  let commits = 0;
  const confirmInstances = store.confirmInstances.bind(store);
  store.confirmInstances = (uids) => {
    commits++;
    return confirmInstances(uids);
  };
  let woken = 0;
  ingest.onQueued(() => woken++);
  for (const n of [1, 2, 3, 4]) assert.equal((await ingest.accept(image(n), 'ae:TEST')).kind, 'stored', 'each sender hears Success at once');
  assert.equal(store.counts().jobs.received, 4, 'kept, not yet queued');
  assert.equal(woken, 0);
  ingest.confirmPending();
  assert.equal(store.counts().jobs.queued, 4);
  assert.equal(commits, 1, 'one commit for the four');
  assert.equal(woken, 1, 'the scheduler is woken once');
  ingest.confirmPending();
  assert.equal(commits, 1, 'nothing left to queue');

  // With the default wait they are queued without being asked (bounded wait).
  const dir2 = mkdtempSync(path.join(tmpdir(), 'hipfrac-ingest-'));
  t.after(() => rmSync(dir2, { recursive: true, force: true }));
  const second = quietIngest(dir2);
  t.after(() => second.store.close());
  assert.equal((await second.ingest.accept(image(5), 'ae:TEST')).kind, 'stored');
  for (const deadline = Date.now() + 10_000; second.store.counts().jobs.queued === 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
  assert.equal(second.store.counts().jobs.queued, 1);
});

test('a file whose flush fails after its row committed: the row is taken back, the sender hears a failure, a re-send is kept', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-ingest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { store, blobs, ingest } = quietIngest(dir);
  t.after(() => store.close());
  const stage = blobs.stage.bind(blobs);
  let failNext = true;
  blobs.stage = async (bytes, kind, extension) => {
    const staged = await stage(bytes, kind, extension);
    if (!failNext) return staged;
    failNext = false;
    await staged.durable;
    // The row is committed by the time the flush reports its failure (the two run side by side).
    return { blob: staged.blob, durable: new Promise<void>((_resolve, reject) => setTimeout(() => reject(new Error('EIO: simulated flush failure')), 50)) };
  };
  const first = await ingest.accept(image(7), 'ae:TEST');
  assert.equal(first.kind, 'refused');
  assert.equal(first.kind === 'refused' && first.code, 'store-failed');
  assert.equal(store.getInstance('2.25.5007'), undefined, 'the committed row is taken back');
  assert.equal(store.getStudy('2.25.601'), undefined, 'and its study, which had nothing else');
  assert.equal(store.queueDepth(), 0);
  assert.ok(store.auditLog(10).some((a) => a.action === 'receive-undone'));
  const again = await ingest.accept(image(7), 'ae:TEST');
  assert.equal(again.kind, 'stored', 'the re-send is stored, not taken for a duplicate');
  assert.equal(store.queueDepth(), 1);
});

test('the same instance on three associations at once: one stored, the others answered after it as duplicates', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-ingest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { store, ingest } = quietIngest(dir);
  t.after(() => store.close());
  const outcomes = await Promise.all([ingest.accept(image(8), 'ae:A'), ingest.accept(image(8), 'ae:B'), ingest.accept(image(8), 'ae:C')]);
  assert.deepEqual(outcomes.map((o) => o.kind), ['stored', 'duplicate', 'duplicate']);
  assert.equal(store.queueDepth(), 1);
});

test('after a crash: an unconfirmed instance with its whole file is queued, one whose file a power cut cut short is forgotten', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-ingest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { store, blobs, ingest } = quietIngest(dir);
  t.after(() => store.close());
  // The state a crash leaves between the row's commit and the end of the file's flush.
  const record = async (n: number) => {
    const bytes = image(n);
    const { blob, durable } = await blobs.stage(bytes);
    await durable;
    const id = { sopInstanceUid: `2.25.500${n}`, studyInstanceUid: `2.25.60${n % 2}` };
    store.recordInstance({
      sopInstanceUid: id.sopInstanceUid, sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', studyInstanceUid: id.studyInstanceUid, seriesInstanceUid: '2.25.70',
      transferSyntaxUid: '1.2.840.10008.1.2.1', sha256: blob.sha256, file: blob.file, bytes: blob.bytes, status: 'stored', reason: '', source: 'ae:TEST',
      context: { studyInstanceUid: id.studyInstanceUid, patientId: 'PID-9', patientName: 'Doe^John', accessionNumber: '', studyDate: '' },
    }, { confirmed: false });
    return blob.file;
  };
  await record(1);
  const cut = await record(2);
  writeFileSync(blobs.absolute(cut), Buffer.alloc(64));
  assert.equal(store.queueDepth(), 2, "both jobs wait in 'received'");
  assert.equal(store.claimJobs(10).length, 0, 'nothing runs an unconfirmed instance');
  assert.deepEqual(store.unconfirmedInstances().map((i) => i.sopInstanceUid), ['2.25.5001', '2.25.5002']);
  assert.deepEqual(await ingest.recoverUnconfirmed(), { confirmed: 1, forgotten: 1 });
  assert.equal(store.jobsOfStudy('2.25.601')[0]?.state, 'queued');
  assert.equal(store.getInstance('2.25.5002'), undefined);
  assert.equal(store.getStudy('2.25.600'), undefined);
  assert.deepEqual(store.unconfirmedInstances(), []);
  // The sender, never told Success, sends it again: stored over the remnant.
  assert.equal((await ingest.accept(image(2), 'ae:TEST')).kind, 'stored');
  assert.ok(await blobs.holds(cut, store.getInstance('2.25.5002')?.sha256 ?? ''));
});

test("a commit whose log flush fails: the row is taken back and the sender hears a failure, not a later 'duplicate'", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-ingest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { store, ingest } = quietIngest(dir);
  t.after(() => store.close());
  const durableTransaction = store.durableTransaction.bind(store);
  let failFlush = true;
  store.durableTransaction = async <T>(fn: () => T): Promise<T> => {
    const value = await durableTransaction(fn);
    if (failFlush) {
      failFlush = false;
      throw new Error('EIO: simulated log flush failure');
    }
    return value;
  };
  const first = await ingest.accept(image(9), 'ae:TEST');
  assert.equal(first.kind === 'refused' && first.code, 'store-failed');
  assert.equal(store.getInstance('2.25.5009'), undefined);
  assert.deepEqual(store.unconfirmedInstances(), []);
  assert.equal((await ingest.accept(image(9), 'ae:TEST')).kind, 'stored');
  assert.equal(store.queueDepth(), 1);
});

test('the same instance on three associations at once, the first failing: the second is stored, the third a duplicate', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-ingest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { store, blobs, ingest } = quietIngest(dir);
  t.after(() => store.close());
  const stage = blobs.stage.bind(blobs);
  let failNext = true;
  blobs.stage = async (bytes, kind, extension) => {
    const staged = await stage(bytes, kind, extension);
    if (!failNext) return staged;
    failNext = false;
    return { blob: staged.blob, durable: Promise.reject(new Error('EIO: simulated flush failure')) };
  };
  const outcomes = await Promise.all(['ae:A', 'ae:B', 'ae:C'].map((ae) => ingest.accept(image(6), ae)));
  assert.deepEqual(outcomes.map((o) => o.kind), ['refused', 'stored', 'duplicate']);
  assert.equal(store.queueDepth(), 1);
  ingest.confirmPending();
  assert.deepEqual(store.unconfirmedInstances(), [], 'the stored one is queued');
});

// The serve store: migrations (core and a feature's), the job state machine, idempotent receive by SOP Instance
// UID, one result per image, crash recovery of claimed jobs, study decisions and deliveries, hashed tokens,
// and the content-addressed, durable file area.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CORE_MIGRATIONS, migrate, openStore, STORE_FILE, type NewInstance, type SqliteStore } from '../../src/serve/store/index.js';
import { DECIDER_QUERIES, studyListQuery } from '../../src/serve/store/sqlite.js';
import { HipfracError } from '../../src/util/index.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function instance(sop: string, study = '1.2.3', status: NewInstance['status'] = 'stored'): NewInstance {
  return {
    sopInstanceUid: sop,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1',
    studyInstanceUid: study,
    seriesInstanceUid: `${study}.1`,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    sha256: 'ab'.repeat(32),
    file: 'objects/x.dcm',
    bytes: 10,
    status,
    reason: status === 'stored' ? '' : 'not an image',
    source: 'ae:MODALITY',
    context: { studyInstanceUid: study, patientId: 'PID-1', patientName: 'Doe^Jane', accessionNumber: 'A1', studyDate: '20260101' },
  };
}

test('the store opens in WAL mode, applies core and feature migrations once, in id order', (t) => {
  const dir = tempDir(t);
  const order: string[] = [];
  const feature = [
    { id: '0101_b', up: (db: SqliteStore['database']) => { order.push('0101'); db.exec('ALTER TABLE review_users ADD COLUMN role TEXT'); } },
    { id: '0100_a', up: (db: SqliteStore['database']) => { order.push('0100'); db.exec('CREATE TABLE review_users (id INTEGER PRIMARY KEY)'); } },
  ];
  const a = openStore(dir, { migrations: feature }).store;
  assert.equal(a.database.pragma('journal_mode', { simple: true }), 'wal');
  a.close();
  const b = openStore(dir, { migrations: feature }).store;
  assert.deepEqual(order, ['0100', '0101']);
  const ids = b.database.prepare<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id').all().map((r) => r.id);
  assert.deepEqual(ids, ['0001_core', '0002_result_boxes', '0003_undecided_studies', '0004_studies_by_recency', '0100_a', '0101_b']);
  b.database.prepare('INSERT INTO review_users (id, role) VALUES (1, ?)').run('radiologist');
  b.close();
});

test('receive is idempotent by SOP Instance UID; a job moves only along the state machine; one result per image', (t) => {
  const { store } = openStore(tempDir(t));
  t.after(() => store.close());
  const first = store.recordInstance(instance('1.2.3.4.1'));
  assert.equal(first.isNew, true);
  assert.equal(first.job?.state, 'queued');
  const again = store.recordInstance(instance('1.2.3.4.1'));
  assert.equal(again.isNew, false);
  assert.equal(again.job, undefined);
  assert.equal(again.instance.receiveCount, 2);
  const skipped = store.recordInstance(instance('1.2.3.4.2', '1.2.3', 'skipped'));
  assert.equal(skipped.job, undefined);
  assert.equal(store.queueDepth(), 1);
  const jobId = first.job?.id as number;
  assert.throws(() => store.transitionJob(jobId, 'done'), (e: unknown) => e instanceof HipfracError && e.code === 'HF_SERVE_BAD_TRANSITION');
  const [claimed] = store.claimJobs(8);
  assert.equal(claimed?.state, 'inferring');
  assert.equal(claimed?.attempts, 1);
  assert.deepEqual(store.claimJobs(8), []);
  const result = { sopInstanceUid: '1.2.3.4.1', decision: 'review', fractureProbability: 0.7, predicted: 'fracture', confidence: 0.7, level: 'suspicious', reason: 'below cut-off', heatmap: '' };
  store.recordResult(jobId, result);
  assert.throws(() => store.recordResult(jobId, result), (e: unknown) => e instanceof HipfracError && e.code === 'HF_SERVE_BAD_TRANSITION');
  assert.equal(store.resultsOfStudy('1.2.3').length, 1);
  assert.equal(store.jobsOfStudy('1.2.3')[0]?.state, 'done');
});

test('after a crash, claimed jobs return to the queue, and fail after the attempt limit', (t) => {
  const dir = tempDir(t);
  let { store } = openStore(dir, { maxAttempts: 2 });
  const id = store.recordInstance(instance('9.1')).job?.id as number;
  store.claimJobs(1);
  store.close(); // as if killed while inferring
  store = openStore(dir, { maxAttempts: 2 }).store;
  assert.equal(store.recoverJobs(), 1);
  assert.equal(store.claimJobs(1)[0]?.attempts, 2);
  store.close();
  store = openStore(dir, { maxAttempts: 2 }).store;
  store.recoverJobs();
  const job = store.jobsOfStudy('1.2.3').find((j) => j.id === id);
  assert.equal(job?.state, 'failed');
  assert.match(job?.error ?? '', /2 times/);
  store.close();
});

test('results keep the box head\'s fracture boxes and the region origin; a store from before boxes is upgraded, its results kept without boxes', (t) => {
  const dir = tempDir(t);
  // A data folder made before box supervision: only the first core migration, one result recorded.
  const old = new Database(path.join(dir, STORE_FILE));
  migrate(old, CORE_MIGRATIONS.slice(0, 1));
  old.exec(`INSERT INTO studies (study_uid, study_key, patient_id, patient_name, accession_number, study_date, state, first_received_at, last_received_at) VALUES ('8', 'S0', '', '', '', '', 'receiving', 'x', 'x');
            INSERT INTO instances (sop_uid, sop_class_uid, study_uid, series_uid, transfer_syntax_uid, sha256, file, bytes, status, reason, source, received_at) VALUES ('8.1', 'c', '8', '8.0', 't', 'h', 'f', 1, 'stored', '', 's', 'x');
            INSERT INTO results (sop_uid, study_uid, decision, fracture_probability, predicted, confidence, level, reason, heatmap, created_at) VALUES ('8.1', '8', 'auto-report', 0.1, 'intact', 0.9, '', 'r', '', 'x');`);
  old.close();
  const { store } = openStore(dir);
  t.after(() => store.close());
  const [kept] = store.resultsOfStudy('8');
  assert.equal(kept?.fractureProbability, 0.1);
  assert.equal(kept?.boxes, null, 'no boxes were computed for it');
  assert.deepEqual(kept?.regionOrigin, [0, 0]);
  const boxes = [{ box: [12.5, 20, 40, 61.3] as const, score: 0.91 }, { box: [70, 5, 90, 25] as const, score: 0.55 }];
  for (const [sop, withBoxes] of [['9.1', true], ['9.2', false]] as const) {
    const job = store.recordInstance(instance(sop, '9')).job as { id: number };
    store.claimJobs(1);
    store.recordResult(job.id, { sopInstanceUid: sop, decision: 'radiologist-review', fractureProbability: 0.6, predicted: 'fracture', confidence: 0.6, level: '', reason: 'r', heatmap: 'heatmaps/a.png', ...(withBoxes ? { boxes, regionOrigin: [7, 11] as const } : {}) });
  }
  const [a, b] = store.resultsOfStudy('9');
  assert.deepEqual(a?.boxes, boxes);
  assert.deepEqual(a?.regionOrigin, [7, 11]);
  assert.equal(b?.boxes, null);
  assert.deepEqual(b?.regionOrigin, [0, 0]);
});

test('after a restart, undecided studies wait one more quiet period from the moment the node listens; decided ones are left alone', async (t) => {
  const { store } = openStore(tempDir(t));
  t.after(() => store.close());
  for (const [sop, study] of [['6.1', '6'], ['7.1', '7']] as const) {
    const job = store.recordInstance(instance(sop, study)).job as { id: number };
    store.claimJobs(1);
    store.recordResult(job.id, { sopInstanceUid: sop, decision: 'auto-report', fractureProbability: 0.01, predicted: 'intact', confidence: 0.99, level: '', reason: 'confident', heatmap: '' });
  }
  store.recordStudyDecision('7', { decision: 'no-fracture', reason: 'r', fractureProbability: 0.01 }, []);
  const before = store.getStudy('6')?.lastReceivedAt as string;
  await new Promise((r) => setTimeout(r, 20));
  const between = new Date().toISOString();
  assert.deepEqual(store.studiesReadyToDecide(between).map((s) => s.studyInstanceUid), ['6'], 'quiet since before the restart');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(store.restartQuietPeriods(), 1, 'only the undecided study');
  assert.deepEqual(store.studiesReadyToDecide(between), [], 'its quiet period starts again');
  assert.ok((store.getStudy('6')?.lastReceivedAt as string) > before);
  assert.equal(store.getStudy('7')?.state, 'delivered');
});

test('the decider\'s look-ups read the undecided studies through their own index, not every study kept', (t) => {
  const { store } = openStore(tempDir(t));
  t.after(() => store.close());
  // Many decided studies (a node that has run for a while) and three undecided ones.
  const insert = store.database.prepare(`INSERT INTO studies (study_uid, study_key, patient_id, patient_name, accession_number, study_date, state, first_received_at, last_received_at, revision, decided_revision)
                                         VALUES (?, ?, '', '', '', '', ?, ?, ?, 1, ?)`);
  const at = (minute: number): string => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
  store.database.transaction(() => {
    for (let i = 0; i < 2000; i++) insert.run(`9.${i}`, `S${String(i).padStart(16, '0')}`, 'delivered', at(i % 50), at(i % 50), 1);
    for (const [uid, minute] of [['8.1', 30], ['8.2', 10], ['8.3', 20]] as const) insert.run(uid, `U${uid}`, 'receiving', at(minute), at(minute), -1);
  })();
  store.database.exec('ANALYZE');
  assert.equal(store.earliestUndecidedReceivedAt(at(0)), at(10), 'the earliest undecided study, decided ones ignored');
  assert.equal(store.earliestUndecidedReceivedAt(at(10)), at(20), 'only quiet periods that end after the given time');
  assert.equal(store.earliestUndecidedReceivedAt(at(30)), undefined);
  assert.deepEqual(store.studiesReadyToDecide(at(25)).map((s) => s.studyInstanceUid), ['8.2', '8.3'], 'oldest first, only the quiet ones');
  const plan = (sql: string): string => store.database.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(at(25)).map((r) => (r as { detail: string }).detail).join('; ');
  const ready = plan(DECIDER_QUERIES.ready);
  assert.match(ready, /USING INDEX studies_undecided/, ready);
  const earliest = plan(DECIDER_QUERIES.earliest);
  assert.match(earliest, /USING (COVERING )?INDEX studies_undecided/, earliest);
});

test('the study list reads one page newest first through an index, filtered or not, without sorting every study', (t) => {
  const { store } = openStore(tempDir(t));
  t.after(() => store.close());
  const insert = store.database.prepare(`INSERT INTO studies (study_uid, study_key, patient_id, patient_name, accession_number, study_date, state, decision, first_received_at, last_received_at)
                                         VALUES (?, ?, '', '', '', '', ?, ?, ?, ?)`);
  const at = (second: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
  store.database.transaction(() => {
    for (let i = 0; i < 3000; i++) insert.run(`9.${i}`, `S${i}`, i % 3 === 0 ? 'receiving' : 'delivered', i % 2 === 0 ? 'no-fracture' : 'fracture-suspected', at(i), at(i));
  })();
  store.database.exec('ANALYZE');
  for (const [clause, params] of [['', []], ['WHERE state = ?', ['delivered']], ['WHERE decision = ?', ['no-fracture']]] as const) {
    const plan = store.database.prepare(`EXPLAIN QUERY PLAN ${studyListQuery(clause)}`).all(...params, 1, 0).map((r) => (r as { detail: string }).detail).join('; ');
    assert.match(plan, /USING INDEX studies_(state_|decision_)?recent/, plan);
    assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
  }
  // The same pages as before: newest first, the filter's total.
  const delivered = store.listStudies({ state: 'delivered', pageSize: 3, page: 2 });
  assert.equal(delivered.total, 2000);
  assert.deepEqual(delivered.studies.map((s) => s.studyInstanceUid), ['9.2995', '9.2993', '9.2992']);
  const all = store.listStudies({ pageSize: 2 });
  assert.equal(all.total, 3000);
  assert.deepEqual(all.studies.map((s) => s.studyInstanceUid), ['9.2999', '9.2998']);
  const suspected = store.listStudies({ decision: 'fracture-suspected', state: 'receiving', pageSize: 2 });
  assert.equal(suspected.total, 500);
  assert.deepEqual(suspected.studies.map((s) => s.studyInstanceUid), ['9.2997', '9.2991']);
});

test('a study is decided once its images are done and it has been quiet; deliveries close it; a late image reopens it', (t) => {
  const { store } = openStore(tempDir(t));
  t.after(() => store.close());
  const job = store.recordInstance(instance('5.1', '5')).job as { id: number };
  const later = new Date(Date.now() + 60_000).toISOString();
  assert.deepEqual(store.studiesReadyToDecide(later), [], 'an open job holds the study back');
  store.claimJobs(1);
  store.recordResult(job.id, { sopInstanceUid: '5.1', decision: 'auto-report', fractureProbability: 0.01, predicted: 'intact', confidence: 0.99, level: '', reason: 'confident', heatmap: '' });
  assert.deepEqual(store.studiesReadyToDecide(new Date(0).toISOString()), [], 'not quiet yet');
  const [ready] = store.studiesReadyToDecide(later);
  assert.equal(ready?.studyInstanceUid, '5');
  assert.match(ready?.studyKey ?? '', /^S[0-9a-f]{16}$/);
  store.recordStudyDecision('5', { decision: 'no-fracture', reason: 'r', fractureProbability: 0.01 }, [
    { studyInstanceUid: '5', kind: 'sr', sopInstanceUid: '2.25.1', destination: 'PACS@127.0.0.1:104', file: 'results/sr.dcm' },
  ]);
  assert.deepEqual(store.studiesReadyToDecide(later), []);
  assert.equal(store.getStudy('5')?.state, 'decided');
  const [due] = store.dueDeliveries(later, 10);
  store.markDeliveryRetry(due?.id as number, 'connection refused', later, false);
  assert.deepEqual(store.dueDeliveries(new Date().toISOString(), 10), [], 'backed off');
  store.markDeliverySent(due?.id as number);
  assert.equal(store.getStudy('5')?.state, 'delivered');
  assert.equal(store.jobsOfStudy('5')[0]?.state, 'delivered');
  store.recordInstance(instance('5.2', '5'));
  assert.equal(store.getStudy('5')?.revision, 1);
  assert.equal(store.getStudy('5')?.state, 'receiving');
  const page = store.listStudies({ state: 'receiving', pageSize: 1 });
  assert.equal(page.total, 1);
});

test('API tokens are stored as hashes and verified by secret and scope', (t) => {
  const dir = tempDir(t);
  const { store } = openStore(dir);
  t.after(() => store.close());
  const { token, record } = store.createToken('ci', ['read']);
  assert.match(token, /^hft_[0-9a-f]{12}_/);
  assert.equal(record.lastUsedAt, null);
  assert.deepEqual(store.verifyToken(token)?.scopes, ['read']);
  const used = store.listTokens()[0]?.lastUsedAt;
  assert.ok(used !== null && used !== undefined && Math.abs(Date.parse(used) - Date.now()) < 60_000, 'the first use is recorded');
  // Within the minute a use is not written again (no write per request for a polling client).
  assert.deepEqual(store.verifyToken(token)?.scopes, ['read']);
  assert.equal(store.listTokens()[0]?.lastUsedAt, used);
  assert.equal(store.verifyToken(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), undefined);
  assert.equal(store.verifyToken('garbage'), undefined);
  const secret = token.split('_').slice(2).join('_');
  assert.equal(readFileSync(path.join(dir, STORE_FILE)).includes(Buffer.from(secret)), false, 'the secret is not in the database file');
  store.revokeToken(record.id);
  assert.equal(store.verifyToken(token), undefined);
  assert.throws(() => store.createToken('x', []), (e: unknown) => e instanceof HipfracError && e.code === 'HF_SERVE_BAD_TOKEN');
});

test('files are kept by content, durably, and refused with HF_SERVE_DISK_FULL below the reserve', async (t) => {
  const dir = tempDir(t);
  const { store, blobs } = openStore(dir);
  t.after(() => store.close());
  const bytes = new TextEncoder().encode('hello dicom');
  const a = await blobs.put(bytes);
  const b = await blobs.put(bytes);
  assert.equal(a.file, b.file);
  assert.match(a.file, /^objects\/[0-9a-f]{2}\/[0-9a-f]{64}\.dcm$/);
  assert.deepEqual(new Uint8Array(await blobs.read(a.file)), bytes);
  assert.equal(await blobs.holds(a.file, a.sha256), true);
  assert.equal(await blobs.holds(a.file, b.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'))), false);
  assert.equal(await blobs.holds('objects/00/missing.dcm', a.sha256), false);
  // A remnant under the object's name (what a power cut may leave before the flush) is rewritten, not trusted.
  writeFileSync(blobs.absolute(a.file), 'cut');
  await blobs.put(bytes);
  assert.equal(await blobs.holds(a.file, a.sha256), true);
  assert.deepEqual(readdirSync(path.dirname(blobs.absolute(a.file))), [path.basename(a.file)], 'no temporary file left');
  const { blobs: full } = openStore(dir, { minFreeBytes: Number.MAX_SAFE_INTEGER });
  await assert.rejects(full.put(new TextEncoder().encode('more')), (e: unknown) => e instanceof HipfracError && e.code === 'HF_SERVE_DISK_FULL');
});

test('durable and relaxed commits: the pipeline commits without a disk wait, everything else with one; nested calls join; a failure rolls back', (t) => {
  const { store } = openStore(tempDir(t));
  t.after(() => store.close());
  // 2 = FULL (the WAL is flushed at each commit), 1 = NORMAL.
  const level = (): unknown => store.database.pragma('synchronous', { simple: true });
  assert.equal(level(), 2);
  let inside: unknown;
  store.relaxedTransaction(() => {
    inside = level();
    store.recordInstance(instance('1.2.3.9.1', '1.2.9'));
  });
  assert.equal(inside, 1, 'a relaxed transaction commits with synchronous NORMAL');
  assert.equal(level(), 2, 'and the connection is back to FULL after it');
  assert.equal(store.getInstance('1.2.3.9.1')?.status, 'stored');
  // A relaxed call inside a durable transaction joins it (one commit, the durable one).
  store.transaction(() => {
    store.claimJobs(8);
    assert.equal(level(), 2);
    store.audit('test', 'nested', '', '');
  });
  assert.equal(store.jobsOfStudy('1.2.9')[0]?.state, 'inferring');
  // A throw inside rolls back everything of that transaction, the joined calls included.
  assert.throws(() => store.relaxedTransaction(() => {
    store.recordInstance(instance('1.2.3.9.2', '1.2.9'));
    throw new Error('boom');
  }), /boom/);
  assert.equal(store.getInstance('1.2.3.9.2'), undefined);
  assert.equal(level(), 2);
  assert.equal(store.auditLog(10).filter((a) => a.action === 'nested').length, 1);
});

test('durableTransaction: committed, then durable once the write-ahead log is flushed off the event loop; concurrent ones share flushes; a throw rolls back', async (t) => {
  const dir = tempDir(t);
  const { store } = openStore(dir);
  t.after(() => store.close());
  // Count the flushes (FileHandle.sync: the write-ahead log's fsync on libuv's pool).
  const probe = await open(path.join(dir, STORE_FILE), 'r');
  const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
  await probe.close();
  const sync = proto.sync;
  let flushes = 0;
  proto.sync = function (this: unknown): Promise<void> {
    flushes++;
    return sync.call(this);
  };
  t.after(() => {
    proto.sync = sync;
  });
  const values = await Promise.all(Array.from({ length: 12 }, (_, i) => store.durableTransaction(() => {
    store.recordInstance(instance(`1.2.3.8.${i}`, '1.2.8'));
    return i;
  })));
  assert.deepEqual(values, Array.from({ length: 12 }, (_, i) => i));
  // The first commit's flush, and one more for the eleven made while it ran.
  assert.equal(flushes, 2, 'twelve concurrent commits share two flushes');
  assert.equal(store.database.pragma('synchronous', { simple: true }), 2, 'the connection stays FULL for everything else');
  await assert.rejects(store.durableTransaction(() => {
    store.recordInstance(instance('1.2.3.8.99', '1.2.8'));
    throw new Error('boom');
  }), /boom/);
  assert.equal(store.getInstance('1.2.3.8.99'), undefined);
  // What was committed is in the database file's log: a second connection (another process after a crash) sees it.
  store.close();
  const { store: again } = openStore(dir);
  t.after(() => again.close());
  assert.equal(again.instancesOfStudy('1.2.8').length, 12);
});

test('with a checkpoint interval the log is copied into the database by a thread, not inside this connection\'s commits', async (t) => {
  const dir = tempDir(t);
  const { store } = openStore(dir, { checkpointIntervalMs: 20 });
  const file = path.join(dir, STORE_FILE);
  assert.equal(store.database.pragma('wal_autocheckpoint', { simple: true }), 0, 'no checkpoint inside commits');
  const before = statSync(file).size;
  for (let i = 0; i < 300; i++) store.relaxedTransaction(() => store.audit('ae:T', 'receive', `S${i}`, 'x'.repeat(200)));
  // Nothing is copied on this thread: the database file grows only when the checkpointer has run.
  const deadline = Date.now() + 10_000;
  while (statSync(file).size === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(statSync(file).size > before, 'the checkpointer copied the log into the database');
  assert.equal(store.auditLog(1000).length, 300);
  store.close();
  const reopened = openStore(dir).store;
  t.after(() => reopened.close());
  assert.equal(reopened.auditLog(1000).length, 300);
  assert.equal(reopened.database.pragma('wal_autocheckpoint', { simple: true }), 1000, 'SQLite\'s own checkpoint without an interval');
});

test('under a steady stream of commits the checkpointer restarts the log: it stays bounded, every row kept', async (t) => {
  const dir = tempDir(t);
  const { store } = openStore(dir, { checkpointIntervalMs: 10, walRestartBytes: 256 * 1024 });
  const file = path.join(dir, STORE_FILE);
  const wal = `${file}-wal`;
  // The checkpointer is running once it has copied a first commit into the database (bounded wait).
  const before = statSync(file).size;
  store.relaxedTransaction(() => store.audit('ae:T', 'receive', 'S', 'x'.repeat(8000)));
  for (const deadline = Date.now() + 10_000; statSync(file).size === before && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
  // 6,000 commits of about 2 KB each, four log frames apiece (about 99 MB of frames), with a turn of the event loop
  // every 20 commits: a log that were never restarted would hold every frame.
  const rows = 6000;
  let largest = 0;
  for (let i = 0; i < rows; i++) {
    store.relaxedTransaction(() => store.audit('ae:T', 'receive', `S${i}`, 'x'.repeat(2000)));
    if (i % 20 === 19) {
      largest = Math.max(largest, statSync(wal).size);
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  const frames = rows * 4 * (4096 + 24);
  // A quarter of the frames: a log never restarted holds all of them; one restarted late, while the checkpointer
  // waits for a core that other processes hold (it once reached 16 MB in a run of the serve tests), stays far below.
  assert.ok(largest < frames / 4, `the log stayed bounded (largest ${largest} bytes; ${frames} bytes of frames were written)`);
  assert.equal(store.auditLog(rows + 10).length, rows + 1);
  store.close();
  const reopened = openStore(dir).store;
  t.after(() => reopened.close());
  assert.equal(reopened.auditLog(rows + 10).length, rows + 1);
});

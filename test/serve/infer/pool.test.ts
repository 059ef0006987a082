// The inference pool keeps two batches in hand at each worker (the worker starts the next batch without waiting for
// the node to record the last), gives every image exactly one result, and puts both batches back in the queue when
// a worker dies holding them.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { readServingModel } from '../../../src/serve/index.js';
import { InferencePool, workerThreads } from '../../../src/serve/infer/pool.js';
import { createServeLogger } from '../../../src/serve/log.js';
import { Metrics } from '../../../src/serve/metrics.js';
import { Ingest } from '../../../src/serve/receive/ingest.js';
import { openStore } from '../../../src/serve/store/index.js';
import { makeFixture, waitFor, type Fixture } from '../fixtures.js';

const silent = createServeLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Child processes of this process (the pool's workers), from /proc. */
function childPids(): number[] {
  return readdirSync('/proc/self/task').flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number));
}

describe('threads per inference worker', () => {
  it('leaves one core to the node and shares the rest among the workers', () => {
    assert.equal(workerThreads(1, 2, undefined), 1);
    assert.equal(workerThreads(1, 16, undefined), 15);
    assert.equal(workerThreads(2, 16, undefined), 7);
    assert.equal(workerThreads(4, 2, undefined), 1, 'at least one thread each');
    assert.equal(workerThreads(1, 1, undefined), 1, 'a one-core machine still infers');
  });
  it('shares HIPFRAC_THREADS among the workers when it is set, and ignores a value that is not a positive integer', () => {
    assert.equal(workerThreads(1, 2, '2'), 2);
    assert.equal(workerThreads(2, 16, '8'), 4);
    assert.equal(workerThreads(3, 16, '2'), 1);
    assert.equal(workerThreads(1, 8, 'many'), 7);
    assert.equal(workerThreads(1, 8, '0'), 7);
    assert.equal(workerThreads(1, 8, '1.5'), 7);
  });
});

describe('inference pool', { timeout: 600_000 }, () => {
  let fx: Fixture;
  before(async () => {
    fx = await makeFixture(5, 9);
  });
  after(() => fx.cleanup());

  /** A store holding every fixture image as a queued job. */
  async function queued(): Promise<{ dir: string; store: ReturnType<typeof openStore>['store'] }> {
    const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-pool-'));
    const { store, blobs } = openStore(dir, { minFreeBytes: 0 });
    const ingest = new Ingest(store, blobs, silent, { maxObjectBytes: 1 << 24 });
    for (const f of fx.files) assert.equal((await ingest.accept(readFileSync(f), 'test')).kind, 'stored');
    ingest.confirmPending();
    assert.equal(store.counts().jobs.queued, fx.files.length);
    return { dir, store };
  }

  it('sends a worker its next batch before the first is answered, and gives each image one result', async () => {
    assert.ok(fx.files.length >= 5, `the fixture has ${fx.files.length} images; the test needs five`);
    const { dir, store } = await queued();
    const pool = new InferencePool(store, readServingModel(fx.modelDir), silent, new Metrics(), { workers: 1, batchSize: 2, dataDir: dir, heatmaps: 'review', threadsPerWorker: 1 });
    try {
      await pool.start();
      // start() dispatches on the next turn; nothing from the worker is read before this turn ends.
      await nextTurn();
      assert.equal(store.counts().jobs.inferring, 4, 'two batches of two in the worker\'s hand');
      await waitFor('every image decided', () => (store.counts().jobs.done === fx.files.length ? true : undefined), 120_000);
      const studies = store.listStudies({ page: 1, pageSize: 100 }).studies;
      const results = studies.flatMap((s) => store.resultsOfStudy(s.studyInstanceUid));
      assert.equal(results.length, fx.files.length);
      assert.equal(new Set(results.map((r) => r.sopInstanceUid)).size, fx.files.length);
    } finally {
      await pool.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('puts both batches of a worker that dies back in the queue, and a new worker decides them', async () => {
    const { dir, store } = await queued();
    const before = new Set(childPids());
    const pool = new InferencePool(store, readServingModel(fx.modelDir), silent, new Metrics(), { workers: 1, batchSize: 2, dataDir: dir, heatmaps: 'review', threadsPerWorker: 1 });
    try {
      await pool.start();
      await nextTurn();
      assert.equal(store.counts().jobs.inferring, 4);
      const worker = childPids().find((p) => !before.has(p));
      assert.ok(worker !== undefined, 'the worker process');
      process.kill(worker, 'SIGKILL');
      await waitFor('every image decided after the restart', () => (store.counts().jobs.done === fx.files.length ? true : undefined), 180_000);
      const results = store.listStudies({ page: 1, pageSize: 100 }).studies.flatMap((s) => store.resultsOfStudy(s.studyInstanceUid));
      assert.equal(results.length, fx.files.length, 'one result per image, none twice');
      assert.equal(store.counts().jobs.failed, 0);
    } finally {
      await pool.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The study decider: with its safety-net sweep set to an hour, only the quiet-period deadline and the
// results-recorded request can decide a study, so each test shows that one of them does (bounded waits, no
// assertion on time). Also: passes never overlap, and a request during a pass runs one more pass after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Metrics } from '../../../src/serve/metrics.js';
import { StudyDecider } from '../../../src/serve/results/studyDecider.js';
import type { StudyRecord } from '../../../src/serve/store/index.js';

const HOUR_MS = 3_600_000;
const QUIET_SECONDS = 0.2;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The two look-ups the decider makes, over studies kept in memory (the SQL is store.test.ts's subject). */
class FakeStore {
  readonly studies = new Map<string, { lastReceivedAt: string; pendingJobs: number; decided: boolean }>();

  receive(uid: string, pendingJobs = 0): void {
    this.studies.set(uid, { lastReceivedAt: new Date().toISOString(), pendingJobs, decided: false });
  }

  studiesReadyToDecide(quietSince: string): StudyRecord[] {
    return [...this.studies.entries()]
      .filter(([, s]) => !s.decided && s.pendingJobs === 0 && s.lastReceivedAt <= quietSince)
      .map(([uid, s]) => ({ studyInstanceUid: uid, studyKey: `S${uid}`, firstReceivedAt: s.lastReceivedAt, lastReceivedAt: s.lastReceivedAt }) as unknown as StudyRecord);
  }

  earliestUndecidedReceivedAt(after: string): string | undefined {
    return [...this.studies.values()].filter((s) => !s.decided && s.lastReceivedAt > after).map((s) => s.lastReceivedAt).sort()[0];
  }
}

function decider(store: FakeStore, produce: (study: StudyRecord) => Promise<void>, passes: { n: number } = { n: 0 }): StudyDecider {
  const d = new StudyDecider(store, produce, () => passes.n++, pino({ level: 'silent' }), new Metrics(), { quietSeconds: QUIET_SECONDS, sweepMs: HOUR_MS });
  return d;
}

/** A produce step that records the study and marks it decided in the fake store. */
function markDecided(store: FakeStore, decided: string[]): (study: StudyRecord) => Promise<void> {
  return (s) => {
    decided.push(s.studyInstanceUid);
    (store.studies.get(s.studyInstanceUid) as { decided: boolean }).decided = true;
    return Promise.resolve();
  };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(25);
  assert.ok(condition(), `${what} within 5 s`);
}

test('a study received by a quiet node is decided when its quiet period ends, without the sweep', async (t) => {
  const store = new FakeStore();
  const decided: string[] = [];
  const d = decider(store, markDecided(store, decided));
  t.after(() => d.stop());
  d.start();
  store.receive('1');
  d.received();
  await until('the first study decided', () => decided.includes('1'));
  // The next study, received after the first was decided: the decider set no timer then (nothing undecided), so
  // this one's image arms it.
  store.receive('2');
  d.received();
  await until('the second study decided', () => decided.includes('2'));
  assert.deepEqual(decided, ['1', '2']);
});

test('a study whose quiet period ended while its images were inferred is decided when their results are recorded', async (t) => {
  const store = new FakeStore();
  const decided: string[] = [];
  const d = decider(store, markDecided(store, decided));
  t.after(() => d.stop());
  store.receive('1', 3);
  d.start();
  d.received();
  await sleep(QUIET_SECONDS * 1000 * 3);
  assert.equal(decided.length, 0, 'held back by its open jobs past its deadline');
  (store.studies.get('1') as { pendingJobs: number }).pendingJobs = 0;
  d.request();
  await until('the study decided', () => decided.includes('1'));
});

test('passes never overlap; a request during a pass runs one more pass after it', async (t) => {
  const store = new FakeStore();
  let inside = 0;
  let most = 0;
  let release: () => void = () => undefined as void;
  const produced: string[] = [];
  const passes = { n: 0 };
  const d = decider(store, async (s) => {
    inside++;
    most = Math.max(most, inside);
    await new Promise<void>((r) => (release = r));
    produced.push(s.studyInstanceUid);
    (store.studies.get(s.studyInstanceUid) as { decided: boolean }).decided = true;
    inside--;
  }, passes);
  t.after(() => d.stop());
  store.studies.set('1', { lastReceivedAt: new Date(0).toISOString(), pendingJobs: 0, decided: false });
  d.start();
  await until('the first pass producing', () => inside === 1);
  // Study 2 becomes ready while study 1 is being produced; several requests arrive meanwhile.
  store.studies.set('2', { lastReceivedAt: new Date(0).toISOString(), pendingJobs: 0, decided: false });
  d.request();
  d.request();
  d.request();
  release();
  await until('the second study being produced', () => inside === 1 && produced.length === 1);
  release();
  await until('both studies produced', () => produced.length === 2);
  await until('the passes ended', () => passes.n === 2);
  assert.equal(most, 1, 'one study at a time');
  assert.deepEqual(produced, ['1', '2']);
  await sleep(100);
  assert.equal(passes.n, 2, 'three requests during one pass run one more pass, not three');
});

test('after stop, neither a deadline nor a request runs a pass', async () => {
  const store = new FakeStore();
  const decided: string[] = [];
  const d = decider(store, (s) => {
    decided.push(s.studyInstanceUid);
    return Promise.resolve();
  });
  d.start();
  store.receive('1');
  d.received();
  d.stop();
  d.request();
  await sleep(QUIET_SECONDS * 1000 * 3);
  assert.deepEqual(decided, []);
});

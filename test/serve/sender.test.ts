// The result sender's pacing: rounds start at least minRoundGapMs apart, so that under load (the decider asks for a
// round after every pass) the results of many studies share one association. A round asked for inside the gap runs
// once the gap has passed, however often it was asked for; none runs after stop(). No assertion on time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Sender } from '../../src/serve/deliver/sender.js';
import { Metrics } from '../../src/serve/metrics.js';
import type { BlobStore, SqliteStore } from '../../src/serve/store/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sender(rounds: { n: number }, gapMs: number): Sender {
  // A store with nothing due: each round is one look-up.
  const store = { dueDeliveries: () => (rounds.n++, []) } as unknown as SqliteStore;
  return new Sender(store, {} as BlobStore, pino({ level: 'silent' }), new Metrics(), { callingAeTitle: 'HIPFRAC', pollMs: 3_600_000, minRoundGapMs: gapMs });
}

test('rounds asked for inside the gap become one round after it', async (t) => {
  const rounds = { n: 0 };
  const s = sender(rounds, 150);
  t.after(() => s.stop());
  await s.tick();
  assert.equal(rounds.n, 1, 'the first round runs at once');
  for (let i = 0; i < 10; i++) await s.tick();
  assert.equal(rounds.n, 1, 'ten more asked for inside the gap: none yet');
  for (let i = 0; i < 100 && rounds.n < 2; i++) await sleep(20);
  assert.equal(rounds.n, 2, 'one round once the gap has passed');
  await sleep(400);
  assert.equal(rounds.n, 2, 'and no more');
});

test('a round waiting for the gap does not run after stop()', async () => {
  const rounds = { n: 0 };
  const s = sender(rounds, 100);
  await s.tick();
  await s.tick();
  s.stop();
  await sleep(300);
  assert.equal(rounds.n, 1);
});

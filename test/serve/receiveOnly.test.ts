// A receive-only node (`inference: false`): instances from storescu are stored and their jobs stay queued, no
// inference worker starts, health says so; a non-boolean setting is refused with the config error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { resolveServeConfig } from '../../src/serve/index.js';
import { needs } from '../helpers/references.js';
import { makeFixture, runTool, startNode } from './fixtures.js';

test('inference: false stores what arrives and leaves the jobs queued for a node with inference', needs('dcmtk'), async (t) => {
  const fx = await makeFixture(2, 4);
  t.after(() => fx.cleanup());
  const node = await startNode(fx, path.join(fx.dir, 'data'), { inference: false });
  t.after(() => node.close());
  const sent = await runTool('storescu', ['-xr', '-aet', 'STORESCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort), ...fx.files]);
  assert.equal(sent.status, 0, sent.stderr);
  const counts = node.store.counts();
  assert.equal(counts.instancesReceived, fx.files.length);
  assert.equal(node.store.queueDepth(), fx.files.length, 'every job still queued');
  const health = (await (await fetch(`http://127.0.0.1:${node.httpPort}/v1/health`)).json()) as { status: string; checks: { workers: string } };
  assert.deepEqual([health.status, health.checks.workers], ['ok', 'inference off']);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(node.store.counts().studiesDecided, 0, 'nothing decided without results');
});

test('inference must be a boolean', () => {
  assert.throws(() => resolveServeConfig(undefined, { modelDir: 'm', dataDir: 'd', inference: 'no' }), (e: Error & { code?: string }) => e.code === 'HF_SERVE_BAD_CONFIG' && /inference must be true or false/.test(e.message));
});

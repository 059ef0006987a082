// The HTTP skeleton: health without a token, plugins registered with the token check (401 / 403 / 200), and
// request logs that carry the route pattern, never the URL's UIDs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { buildHttpApp, type HttpPlugin } from '../../src/serve/http/index.js';
import { createServeLogger } from '../../src/serve/log.js';
import { openStore } from '../../src/serve/store/index.js';

test('health is open; plugin routes need a token with the right scope; logs omit URLs', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-http-'));
  const { store } = openStore(dir);
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const plugin: HttpPlugin = (app, ctx) => {
    app.get('/v1/things/:uid', { preHandler: ctx.requireScope('read') }, async () => ({ ok: true }));
    app.post('/v1/admin-thing', { preHandler: ctx.requireScope('admin') }, async () => ({ ok: true }));
  };
  const app = await buildHttpApp({ store, logger: createServeLogger({ destination: sink }), health: () => ({ status: 'ok', version: 'test', uptimeSeconds: 1, checks: { store: 'ok' } }) }, [plugin]);
  t.after(async () => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const health = await app.inject({ method: 'GET', url: '/v1/health' });
  assert.equal(health.statusCode, 200);
  assert.equal(health.json().status, 'ok');
  const read = store.createToken('r', ['read']).token;
  const admin = store.createToken('a', ['admin']).token;
  assert.equal((await app.inject({ method: 'GET', url: '/v1/things/1.2.826.0.1.99' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/things/1.2.826.0.1.99', headers: { authorization: 'Bearer hft_000000000000_wrong' } })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/things/1.2.826.0.1.99', headers: { authorization: `Bearer ${read}` } })).statusCode, 200);
  assert.equal((await app.inject({ method: 'POST', url: '/v1/admin-thing', headers: { authorization: `Bearer ${read}` } })).statusCode, 403);
  assert.equal((await app.inject({ method: 'POST', url: '/v1/admin-thing', headers: { authorization: `Bearer ${admin}` } })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/things/1.2.826.0.1.99', headers: { authorization: `Bearer ${admin}` } })).statusCode, 200, 'admin includes read');
  const log = lines.join('');
  assert.match(log, /"route":"\/v1\/things\/:uid"/);
  assert.equal(log.includes('1.2.826.0.1.99'), false);
  assert.equal(log.includes(read), false);
});

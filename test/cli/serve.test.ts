// `hipfrac serve` and `hipfrac token` as users run them (spawned CLI): the node starts (again in place as
// `node --single-threaded` when its settings ask), answers /v1/health and C-ECHO, and stops on SIGTERM with exit 0
// and its store closed; unknown flags are usage errors (exit 2); a model trained on hip crops without a localiser
// is refused (exit 1, HF_SERVE_NEEDS_LOCALISER) before anything is opened; a token is printed once, listed without
// its secret, and revoking it makes the API answer 401.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SERVE_DEFAULTS, STORE_FILE } from '../../src/serve/index.js';
import { freePort } from '../helpers/ports.js';
import { needs } from '../helpers/references.js';
import { makeFixture, runTool, waitFor, type Fixture } from '../serve/fixtures.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const hipfrac = (args: readonly string[]) => runTool(process.execPath, [MAIN, ...args], 120_000);

describe('hipfrac serve and hipfrac token', needs('dcmtk'), () => {
  let fx: Fixture;
  const children: ChildProcess[] = [];

  before(async () => {
    fx = await makeFixture(2, 13);
  });

  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    fx?.cleanup();
  });

  test('a model trained on hip crops without a hip localiser is refused before the store is opened or a port bound', async () => {
    const roiModel = path.join(fx.dir, 'roi-model');
    cpSync(fx.modelDir, roiModel, { recursive: true });
    const card = JSON.parse(readFileSync(path.join(roiModel, 'model.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(card['localiser'], undefined);
    writeFileSync(path.join(roiModel, 'model.json'), JSON.stringify({ ...card, crop: 'roi' }));
    const data = path.join(fx.dir, 'roi-data');
    const [dicomPort, httpPort] = [await freePort(), await freePort()];
    const r = await hipfrac(['serve', '--model', roiModel, '--data', data, '--dicom-port', String(dicomPort), '--http-port', String(httpPort)]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /HF_SERVE_NEEDS_LOCALISER/);
    assert.match(r.stderr, /crop: roi/);
    assert.match(r.stderr, /--crop none/, 'the fix');
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
    assert.equal(existsSync(data), false, 'no data folder, no store');
    assert.doesNotMatch(r.stderr + r.stdout, /listening/);
    // A card that names a localiser whose weights are not there is refused the same way.
    writeFileSync(path.join(roiModel, 'model.json'), JSON.stringify({ ...card, crop: 'roi', localiser: { version: 1, dir: 'localiser', inputSize: 96, epochs: 1, trainedOn: 1 } }));
    const named = await hipfrac(['serve', '--model', roiModel, '--data', data, '--dicom-port', String(dicomPort), '--http-port', String(httpPort)]);
    assert.equal(named.status, 1, named.stderr);
    assert.match(named.stderr, /HF_SERVE_NEEDS_LOCALISER/);
    assert.match(named.stderr, /localiser\.safetensors is missing/);
    assert.equal(existsSync(data), false);
  });

  test('unknown or malformed flags exit 2 with the usage', async () => {
    const bogus = await hipfrac(['serve', '--model', fx.modelDir, '--data', path.join(fx.dir, 'never'), '--bogus']);
    assert.equal(bogus.status, 2, bogus.stderr);
    assert.match(bogus.stderr, /HF_CLI_BAD_OPTION/);
    assert.match(bogus.stderr, /--bogus/);
    assert.match(bogus.stderr, /Usage: hipfrac serve/);
    const noData = await hipfrac(['serve', '--model', fx.modelDir]);
    assert.equal(noData.status, 2, noData.stderr);
    assert.match(noData.stderr, /HF_CLI_MISSING_OPTION.*--data/);
    for (const r of [bogus, noData]) assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
    assert.equal(existsSync(path.join(fx.dir, 'never')), false);
  });

  test('serve answers /v1/health and C-ECHO, token create/list/revoke work against it, SIGTERM stops it with exit 0 and a closed store', async () => {
    const data = path.join(fx.dir, 'data');
    const created = await hipfrac(['token', 'create', '--data', data, '--name', 'monitoring', '--scope', 'read']);
    assert.equal(created.status, 0, created.stderr);
    const lines = created.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'the token alone on stdout');
    const token = lines[0] as string;
    const m = /^hft_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/.exec(token);
    assert.ok(m !== null, token);
    const [, id, secret] = m as unknown as [string, string, string];
    assert.match(created.stderr, /shown only now/);
    const list = await hipfrac(['token', 'list', '--data', data]);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${id}\\s+monitoring\\s+read\\s+created`, 'm'));
    assert.equal(list.stdout.includes(secret), false, 'list never shows the secret');
    assert.equal(readFileSync(path.join(data, STORE_FILE)).includes(Buffer.from(secret)), false, 'the store keeps only a hash');

    const [dicomPort, httpPort] = [await freePort(), await freePort()];
    const stderr: string[] = [];
    // singleThreaded: the node starts itself again in place as `node --single-threaded` (what 'auto' does on 2 cores).
    const config = path.join(fx.dir, 'serve.json');
    writeFileSync(config, JSON.stringify({ singleThreaded: true }));
    const child = spawn(process.execPath, [MAIN, 'serve', '--config', config, '--model', fx.modelDir, '--data', data, '--dicom-port', String(dicomPort), '--http-port', String(httpPort), '--ae-title', 'HIPFRAC'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    child.stdout.on('data', (d: Buffer) => stderr.push(d.toString()));
    child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${httpPort}`;
    const health = await waitFor('the node up', async () => {
      if (child.exitCode !== null) throw new Error(`hipfrac serve exited: ${stderr.join('')}`);
      try {
        const r = await fetch(`${base}/v1/health`);
        return r.ok ? ((await r.json()) as { status: string; checks: Record<string, string> }) : undefined;
      } catch {
        return undefined;
      }
    }, 120_000);
    assert.equal(health.status, 'ok');
    assert.equal(health.checks['workers'], `${SERVE_DEFAULTS.workers} ready`, 'the default number of inference workers, all ready');
    // The process the test started is the node, now with the option, and its inference workers inherited it.
    assert.equal(health.checks['v8'], 'single-threaded');
    const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.deepEqual(cmdline(child.pid as number).slice(1, 4), ['--single-threaded', MAIN, 'serve']);
    const workers = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number).map(cmdline);
    const inference = workers.filter((w) => w.some((a) => a.endsWith(path.join('infer', 'worker.js'))));
    assert.equal(inference.length, SERVE_DEFAULTS.workers, JSON.stringify(workers));
    assert.ok(inference.every((w) => w.includes('--single-threaded')), JSON.stringify(inference));
    assert.match(stderr.join(''), /hipfrac serve: AE HIPFRAC on 127\.0\.0\.1:\d+ \(DICOM\)/, 'its standard streams are the ones the test gave');
    const echo = await runTool('echoscu', ['-aet', 'ECHOSCU', '-aec', 'HIPFRAC', '127.0.0.1', String(dicomPort)]);
    assert.equal(echo.status, 0, echo.stderr);
    const studies = (t: string) => fetch(`${base}/v1/studies`, { headers: { authorization: `Bearer ${t}` } });
    assert.equal((await studies(token)).status, 200);
    const revoked = await hipfrac(['token', 'revoke', '--data', data, '--id', id]);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.equal((await studies(token)).status, 401, 'a revoked token is refused at once, by the running node');
    assert.match((await hipfrac(['token', 'list', '--data', data])).stdout, new RegExp(`^${id}\\s+monitoring.*revoked`, 'm'));

    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('no exit within 60 s'), 60_000))]);
    assert.equal(code, 0, stderr.join(''));
    // A cleanly closed SQLite database in WAL mode checkpoints and removes its write-ahead log.
    assert.equal(existsSync(path.join(data, `${STORE_FILE}-wal`)), false, 'the store was closed');
    const db = new Database(path.join(data, STORE_FILE), { readonly: true });
    try {
      const actions = db.prepare<{ actor: string; action: string }>('SELECT actor, action FROM audit_log ORDER BY id').all().map((r) => `${r.actor}:${r.action}`);
      assert.deepEqual(actions.filter((a) => a.startsWith('cli:') || a === 'system:start'), ['cli:token-create', 'system:start', 'cli:token-revoke']);
    } finally {
      db.close();
    }
    await assert.rejects(fetch(`${base}/v1/health`), 'the HTTP port is closed');
  });
});

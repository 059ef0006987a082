// Crash test: 200 phantom images over 4 concurrent associations (4 storescu processes) to a `hipfrac serve` child;
// `kill -9` of the node at a seeded random point while it receives and infers; restart on the same --data; the
// senders re-send everything; a second `kill -9` at a seeded point while it delivers results, and a restart. Afterwards every image has exactly one result (one job, one result row per SOP
// Instance UID), every study is delivered, and the PACS (Orthanc) holds exactly one SR per study.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { STORE_FILE } from '../../src/serve/index.js';
import { Rng } from '../../src/util/index.js';
import { needs } from '../helpers/references.js';
import { freePort } from '../helpers/ports.js';
import { makeFixture, runTool, waitFor } from './fixtures.js';
import { seriesOfStudy, startOrthanc } from './orthanc.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
/** ~1.75 images per phantom patient: 118 patients give at least 200 images; the test sends exactly 200. */
const IMAGES = 200;
const PATIENTS = 118;
const SEED = 2026;

type Row = Record<string, unknown>;

test('kill -9 while receiving and inferring, again while delivering, restarts: one result per image, one SR per study in the PACS', { ...needs('orthanc', 'dcmtk'), timeout: 540_000 }, async (t) => {
  const fx = await makeFixture(PATIENTS, 21);
  t.after(() => fx.cleanup());
  assert.ok(fx.files.length >= IMAGES, `the cohort has ${fx.files.length} images`);
  const files = fx.files.slice(0, IMAGES);
  const dicomPort = await freePort();
  const httpPort = await freePort();
  const orthanc = await startOrthanc(path.join(fx.dir, 'orthanc'), { hipfrac: ['HIPFRAC', '127.0.0.1', dicomPort] });
  let child: ChildProcess | undefined;
  const stopChild = async (c: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> => {
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
      c.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      c.kill(signal);
    });
  };
  const orphans: number[] = [];
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  t.after(async () => {
    for (const pid of orphans.filter(alive)) process.kill(pid, 'SIGKILL');
    await stopChild(child, 'SIGTERM');
    await orthanc.stop();
  });
  const data = path.join(fx.dir, 'data');
  const config = path.join(fx.dir, 'serve.json');
  // The quiet time outlasts the restart's gap between listening and the senders' first re-sent image.
  writeFileSync(config, JSON.stringify({ studyQuietSeconds: 5, minFreeBytes: 0, deliveryInitialBackoffMs: 200, deliveryMaxBackoffMs: 2000, batchSize: 8 }));
  const created = spawnSync(process.execPath, [CLI, 'token', 'create', '--data', data, '--name', 'crash-test', '--scope', 'read'], { encoding: 'utf8' });
  assert.equal(created.status, 0, created.stderr);
  const token = created.stdout.trim();
  const logFile = path.join(fx.dir, 'node.log');
  const start = async (): Promise<ChildProcess> => {
    const fd = openSync(logFile, 'a');
    const c = spawn(process.execPath, [CLI, 'serve', '--model', fx.modelDir, '--data', data, '--config', config, '--dicom-port', String(dicomPort), '--http-port', String(httpPort), '--destination', `ORTHANC@127.0.0.1:${orthanc.dicomPort}`], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    await waitFor('the node up', async () => {
      if (c.exitCode !== null) throw new Error(`hipfrac serve exited with ${c.exitCode}: ${readFileSync(logFile, 'utf8').slice(-3000)}`);
      try {
        return (await fetch(`http://127.0.0.1:${httpPort}/v1/health`)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    }, 120_000);
    return c;
  };
  const sendAll = (): Promise<{ status: number | null; stderr: string }[]> =>
    Promise.all([0, 1, 2, 3].map((k) => runTool('storescu', ['-xr', '-aet', 'STORESCU', '-aec', 'HIPFRAC', '127.0.0.1', String(dicomPort), ...files.filter((_, i) => i % 4 === k)], 240_000)));
  // The store, read beside the running node (WAL allows a reader next to the writer).
  const query = <T extends Row>(sql: string): T[] => {
    const db = new Database(path.join(data, STORE_FILE), { readonly: true, fileMustExist: true });
    try {
      return db.prepare<T>(sql).all();
    } finally {
      db.close();
    }
  };
  const count = (sql: string): number => Number(query<{ n: number }>(sql)[0]?.n ?? 0);

  child = await start();
  // The seeded moments: the first once this many images are stored, at least one result exists and jobs are in
  // flight; the second, after the restart, once this many result objects reached the PACS while other studies still
  // wait for theirs.
  const IN_FLIGHT = `SELECT COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'inferring')`;
  const rng = new Rng(SEED);
  const killAt = rng.int(40, 120);
  const secondKillAt = rng.int(1, 30);
  const childrenOf = (c: ChildProcess): number[] => spawnSync('pgrep', ['-P', String(c.pid)], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '').map(Number);
  // The moment is checked on a stopped node (SIGSTOP to it and its workers), so that the state the test saw is the
  // state the kill leaves: checked on a running node, the worker could finish the jobs in flight in between.
  const signalTree = (c: ChildProcess, signal: NodeJS.Signals): void => {
    for (const pid of [c.pid as number, ...childrenOf(c)]) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone already.
      }
    }
  };
  const stoppedWhen = <T>(c: ChildProcess, moment: () => T | undefined): T | undefined => {
    if (moment() === undefined) return undefined;
    signalTree(c, 'SIGSTOP');
    const seen = moment();
    if (seen === undefined) signalTree(c, 'SIGCONT');
    return seen;
  };
  const killNode = async (c: ChildProcess): Promise<number[]> => {
    // The node's inference workers (its child processes) must not outlive it: once it is dead they are let run
    // again, find their channel to it closed and exit.
    const pids = childrenOf(c);
    orphans.push(...pids);
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Gone already.
      }
    }
    return pids;
  };
  const sending = sendAll();
  const atKill = await waitFor('the seeded moment to kill the node', () => stoppedWhen(child as ChildProcess, () => {
    const received = count('SELECT COUNT(*) AS n FROM instances');
    const results = count('SELECT COUNT(*) AS n FROM results');
    // Inference keeps pace with receiving at times: the moment is one with work in flight, so there is some to resume.
    return received >= killAt && results >= 1 && count(IN_FLIGHT) >= 1 ? { received, results } : undefined;
  }), 180_000);
  const workers = await killNode(child);
  const first = await sending;
  assert.ok(atKill.received < IMAGES, `killed while receiving (${atKill.received} of ${IMAGES} stored)`);
  assert.ok(first.some((r) => r.status !== 0), 'the kill cut off at least one sender');
  assert.ok(workers.length >= 1, 'the node had an inference worker');
  // What the dead node left: the images it had acknowledged, and work still in flight for recovery to resume.
  const storedBeforeKill = query<{ sop_uid: string }>('SELECT sop_uid FROM instances').map((r) => r.sop_uid);
  const inFlight = count(IN_FLIGHT);
  t.diagnostic(`killed at ${atKill.received} images stored, ${atKill.results} results; left ${inFlight} jobs queued or inferring (${count(`SELECT COUNT(*) AS n FROM jobs WHERE state = 'inferring'`)} inferring)`);
  assert.ok(inFlight >= 1, 'the kill left jobs to resume');
  await waitFor('the dead node\'s inference workers to exit', () => (workers.some(alive) ? undefined : true), 30_000);

  child = await start();
  const again = await sendAll();
  for (const r of again) assert.equal(r.status, 0, r.stderr);
  const api = async <T>(url: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${httpPort}${url}`, { headers: { authorization: `Bearer ${token}` } })).json()) as T;
  const studyCount = count('SELECT COUNT(DISTINCT study_uid) AS n FROM instances');
  assert.equal(count('SELECT COUNT(*) AS n FROM instances'), IMAGES, 'every image acknowledged after the re-send');
  // Second kill while results are being delivered (and images still inferred): deliveries not yet acknowledged by
  // the PACS stay pending and go out again after the restart, with the same SOP Instance UIDs.
  const atSecondKill = await waitFor('the seeded moment to kill the node while it delivers', () => stoppedWhen(child as ChildProcess, () => {
    const sent = count(`SELECT COUNT(*) AS n FROM deliveries WHERE state = 'sent'`);
    const open = count(`SELECT COUNT(*) AS n FROM studies WHERE state != 'delivered'`);
    return sent >= secondKillAt && open >= 1 ? { sent, open } : undefined;
  }), 180_000);
  const secondWorkers = await killNode(child);
  t.diagnostic(`second kill at ${atSecondKill.sent} result objects sent, ${atSecondKill.open} studies open; left ${count(`SELECT COUNT(*) AS n FROM deliveries WHERE state = 'pending'`)} deliveries pending, ${count(`SELECT COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'inferring')`)} jobs queued or inferring`);
  assert.ok(count(`SELECT COUNT(*) AS n FROM studies WHERE state != 'delivered'`) >= 1, 'the second kill left studies to finish');
  await waitFor('the dead node\'s inference workers to exit', () => (secondWorkers.some(alive) ? undefined : true), 30_000);
  child = await start();
  try {
    await waitFor('every study delivered', () => (count(`SELECT COUNT(*) AS n FROM studies WHERE state = 'delivered'`) === studyCount && count('SELECT COUNT(*) AS n FROM instances') === IMAGES ? true : undefined), 180_000);
  } catch (error) {
    const jobs = query('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state');
    const studies = query('SELECT state, COUNT(*) AS n FROM studies GROUP BY state');
    const deliveries = query('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state');
    throw new Error(`${(error as Error).message}: jobs ${JSON.stringify(jobs)}, studies ${JSON.stringify(studies)}, deliveries ${JSON.stringify(deliveries)}; node log tail: ${readFileSync(logFile, 'utf8').slice(-3000)}`);
  }

  // Exactly once in the store: one instance, one job and one result per SOP Instance UID, all 200 of them.
  assert.equal(count('SELECT COUNT(*) AS n FROM instances'), IMAGES);
  assert.equal(count('SELECT COUNT(*) AS n FROM jobs'), IMAGES, 'one job per image');
  assert.equal(count('SELECT COUNT(DISTINCT sop_uid) AS n FROM jobs'), IMAGES);
  assert.equal(count('SELECT COUNT(*) AS n FROM results'), IMAGES, 'one result per image');
  assert.equal(count(`SELECT COUNT(*) AS n FROM jobs WHERE state != 'delivered'`), 0);
  const resent = new Map(query<{ sop_uid: string; receive_count: number }>('SELECT sop_uid, receive_count FROM instances').map((r) => [r.sop_uid, Number(r.receive_count)]));
  assert.ok(storedBeforeKill.every((uid) => (resent.get(uid) ?? 0) >= 2), 'every image stored before the kill was re-sent and recognised, not stored again');
  assert.equal(count(`SELECT COUNT(*) AS n FROM deliveries WHERE state != 'sent'`), 0);

  // Through the API: every image of every study has its decision; in the PACS one SR per study, one SC per reviewed image.
  const list = await api<{ total: number; studies: { studyInstanceUid: string; state: string }[] }>('/v1/studies?pageSize=500');
  assert.equal(list.total, studyCount);
  let images = 0;
  for (const s of list.studies) {
    const detail = await api<{ images: { decision: string | null }[] }>(`/v1/studies/${encodeURIComponent(s.studyInstanceUid)}`);
    images += detail.images.length;
    for (const image of detail.images) assert.ok(image.decision !== null, 'every image has a result');
    const series = await seriesOfStudy(orthanc, s.studyInstanceUid);
    const srs = series.filter((x) => x.MainDicomTags.Modality === 'SR').reduce((n, x) => n + x.Instances.length, 0);
    const scs = series.filter((x) => x.MainDicomTags.Modality === 'OT').reduce((n, x) => n + x.Instances.length, 0);
    assert.equal(srs, 1, `one SR for study ${s.studyInstanceUid}`);
    assert.equal(scs, detail.images.filter((i) => i.decision === 'radiologist-review').length, 'one Secondary Capture per reviewed image');
  }
  assert.equal(images, IMAGES);
  await stopChild(child, 'SIGTERM');
  assert.equal(child.exitCode, 0, 'the restarted node stops cleanly');
});

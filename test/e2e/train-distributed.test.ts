// End to end: `hipfrac train --nproc-per-node 2` on a tiny folder data set. Rank 0 alone writes the run folder
// (the uninterrupted run trains resnet18 with --sync-bn and records it in results.json and the model card);
// a rank killed with SIGKILL ends the job with coded errors (HF_DIST_PEER_LOST on its peer, HF_DIST_RANK_FAILED
// from the launcher), and `--resume` finishes the run from the last checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { importDataset } from '../../src/data/index.js';
import { distributedAvailable } from '../../src/torch/index.js';
import { Rng } from '../../src/util/index.js';
import { freePort } from '../helpers/ports.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const EPOCHS = 3;
const ARGS = ['--arch', 'squeezenet1_1', '--scratch', '--input-size', '48', '--batch-size', '8', '--frozen-epochs', '0', '--unfrozen-epochs', String(EPOCHS), '--patience', '10', '--lr', '0.001', '--unfrozen-lr', '0.001', '--no-augment', '--seed', '3', '--workers', '1', '--nproc-per-node', '2', '--dist-timeout', '30'];
/** Bound on one CLI run; a run still alive then is killed and the test fails. */
const RUN_LIMIT_MS = 300_000;

async function writeFolders(dir: string, perClass: number): Promise<void> {
  const rng = new Rng(9);
  for (const [name, bright] of [['fracture', 200], ['normal', 90]] as const) {
    mkdirSync(path.join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = Uint8Array.from({ length: 48 * 48 }, (_, p) => (p % 48 < 24 ? bright : 40) + Math.floor(20 * rng.next()));
      await sharp(Buffer.from(px), { raw: { width: 48, height: 48, channels: 1 } }).png().toFile(path.join(dir, name, `img${i}.png`));
    }
  }
}

interface Run {
  code: number | null;
  output: string;
}

/** Runs the CLI; `onOutput` may SIGKILL one of the launcher's rank processes. */
function runCli(args: readonly string[], env: NodeJS.ProcessEnv, onOutput?: (output: string, launcherPid: number) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const limit = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
    const take = (d: Buffer): void => {
      output += d.toString();
      onOutput?.(output, child.pid as number);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => {
      clearTimeout(limit);
      resolve({ code, output });
    });
  });
}

/** The launcher's child whose environment says RANK=1. */
function rankOnePid(launcherPid: number): number | null {
  const lines = execFileSync('ps', ['-o', 'pid=', '--ppid', String(launcherPid)], { encoding: 'utf8' }).trim().split('\n');
  for (const line of lines) {
    const pid = Number(line.trim());
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('RANK=1')) return pid;
    } catch {
      // the process ended between ps and the read
    }
  }
  return null;
}

test('e2e: 2-rank train writes one run folder; kill -9 of a rank ends the job with codes; --resume finishes it', { skip: distributedAvailable().gloo ? false : 'distributed unavailable in this build', timeout: 900_000 }, async (t) => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-ddp-e2e-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const env = { ...process.env, HIPFRAC_SALT_FILE: path.join(work, 'salt.key') };
  await writeFolders(path.join(work, 'folders'), 12);
  const dataset = path.join(work, 'dataset');
  await importDataset({ inputDir: path.join(work, 'folders'), outDir: dataset, layout: 'folders', saltFile: path.join(work, 'salt.key'), workers: 1 });

  // One uninterrupted run, of a network with BatchNorm synchronised over the ranks: rank 0 alone writes the folder,
  // and the run finishes.
  const whole = path.join(work, 'whole');
  const withBatchNorm = ARGS.map((a) => (a === 'squeezenet1_1' ? 'resnet18' : a));
  const ok = await runCli(['train', '--data', dataset, '--out', whole, '--master-port', String(await freePort()), ...withBatchNorm, '--sync-bn'], env);
  assert.equal(ok.code, 0, ok.output.slice(-3000));
  // resnet18: 20 BatchNorm2d in the body, 2 BatchNorm1d in the fastai head.
  assert.match(ok.output, /data-parallel: 2 ranks over gloo, 4 images per rank and step, 22 BatchNorm layers synchronised/);
  const expected = { worldSize: 2, backend: 'gloo', syncBatchNorm: true, syncBatchNormLayers: 22 };
  assert.deepEqual((JSON.parse(readFileSync(path.join(whole, 'results.json'), 'utf8')) as { distributed: unknown }).distributed, expected);
  assert.deepEqual((JSON.parse(readFileSync(path.join(whole, 'model', 'model.json'), 'utf8')) as { extra: { distributed: unknown } }).extra.distributed, expected);
  assert.equal(ok.output.match(/^report: /gm)?.length, 1, 'one report, from rank 0');
  for (const f of ['results.json', 'log.jsonl', 'report.html', 'config.json']) assert.ok(existsSync(path.join(whole, f)), f);
  assert.equal(readFileSync(path.join(whole, 'log.jsonl'), 'utf8').trim().split('\n').filter((l) => l.includes('"epoch"')).length >= EPOCHS, true);

  // Killed after the first epoch: coded errors, then --resume completes the run.
  const resumed = path.join(work, 'resumed');
  const port = String(await freePort());
  let killed = false;
  const broken = await runCli(['train', '--data', dataset, '--out', resumed, '--master-port', port, ...ARGS], env, (output, launcher) => {
    if (killed || !/unfrozen epoch 1:/.test(output)) return;
    const pid = rankOnePid(launcher);
    if (pid !== null) {
      killed = true;
      process.kill(pid, 'SIGKILL');
    }
  });
  assert.ok(killed, `rank 1 was killed after epoch 1: ${broken.output.slice(-2000)}`);
  assert.equal(broken.code, 1);
  assert.match(broken.output, /HF_DIST_RANK_FAILED: rank 1 was killed by SIGKILL/);
  assert.match(broken.output, /HF_DIST_(PEER_LOST|TIMEOUT): /);
  assert.ok(!existsSync(path.join(resumed, 'results.json')));
  assert.ok(readdirSync(resumed).includes('train-state'), 'the last checkpoint is there');
  const done = await runCli(['train', '--data', dataset, '--out', resumed, '--master-port', port, ...ARGS, '--resume'], env);
  assert.equal(done.code, 0, done.output.slice(-3000));
  const results = JSON.parse(readFileSync(path.join(resumed, 'results.json'), 'utf8')) as { history: unknown[] };
  assert.equal(results.history.length, EPOCHS, 'the resumed run ends with every epoch recorded');
});

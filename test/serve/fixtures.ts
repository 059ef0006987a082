// Shared set-up for the serve tests: a small phantom cohort (DICOM, several studies) and a tiny checkpoint
// (resnet18 at 64 px, a few training steps on those phantom images) with a triage policy in its card, made
// through the library's own functions; plus helpers to start a node and to wait for a condition, bounded.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { generateCohort } from '../../src/phantom/index.js';
import { createServeLogger, resolveServeConfig, startServeNode, type RunningNode, type ServeConfig } from '../../src/serve/index.js';
import { fileURLToPath } from 'node:url';

const TRAIN_TINY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'trainTiny.js');

export interface Fixture {
  readonly dir: string;
  readonly images: string;
  readonly files: readonly string[];
  readonly labels: ReadonlyMap<string, 0 | 1>;
  readonly patientNames: readonly string[];
  readonly patientIds: readonly string[];
  readonly modelDir: string;
  cleanup(): void;
}

/** A cohort of `patients` phantom patients (one study each, ~2 images) at 128 px and a 64 px resnet18 trained a few steps. */
export async function makeFixture(patients = 4, seed = 3): Promise<Fixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-serve-fx-'));
  const cohort = await generateCohort({ out: path.join(dir, 'cohort'), patients, seed, difficulty: 'easy', size: 128, workers: 1 });
  const images = path.join(dir, 'cohort', 'images');
  const files = readdirSync(images, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.dcm')).sort().map((f) => path.join(images, f));
  const labels = new Map<string, 0 | 1>(cohort.images.map((i) => [path.resolve(dir, 'cohort', i.file), i.planned.recordedLabel]));
  const header = files.map((f) => spawnSync('dcmdump', ['+P', 'PatientName', '+P', 'PatientID', f], { encoding: 'utf8' }).stdout);
  const values = (re: RegExp): string[] => [...new Set(header.flatMap((h) => [...h.matchAll(re)].map((m) => m[1] as string)))];
  const patientNames = values(/\(0010,0010\) PN \[([^\]]+)\]/g);
  const patientIds = values(/\(0010,0020\) LO \[([^\]]+)\]/g);

  const modelDir = path.join(dir, 'model');
  const labelsJson = path.join(dir, 'train-labels.json');
  writeFileSync(labelsJson, JSON.stringify(files.map((f) => [f, labels.get(path.resolve(f)) ?? 0])));
  const trained = spawnSync(process.execPath, [TRAIN_TINY, modelDir, labelsJson, String(seed)], { encoding: 'utf8', timeout: 300_000 });
  if (trained.status !== 0) throw new Error(`training the tiny model failed: ${trained.stderr.slice(-2000)}`);
  return { dir, images, files, labels, patientNames, patientIds, modelDir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A log sink the test can scan (every line the node logs). */
export function logSink(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  return { lines, stream: new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } }) };
}

export async function startNode(fx: Fixture, dataDir: string, overrides: Partial<ServeConfig>, lines: string[] = []): Promise<RunningNode> {
  const config = resolveServeConfig(undefined, { modelDir: fx.modelDir, dataDir, dicomPort: 0, httpPort: 0, host: '127.0.0.1', studyQuietSeconds: 1, minFreeBytes: 0, deliveryInitialBackoffMs: 200, deliveryMaxBackoffMs: 1000, ...overrides });
  const sink = new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } });
  return startServeNode(config, { logger: createServeLogger({ level: 'info', destination: sink }) });
}

/** Polls `check` every 200 ms until it returns a value other than undefined, for at most `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));

/** Runs a program without blocking the event loop (the node under test lives in this process), bounded by `timeoutMs`. */
export function runTool(command: string, args: readonly string[], timeoutMs = 120_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

// Bad input at every command: each command of src/cli/commands/index.ts, spawned as users run it, against a missing
// path, an empty folder, a wrong file type, malformed CSV/JSON, an invalid option value and a missing required option.
// Each run must exit 2 (usage) or 1 (error), print one coded line with the fix and no stack trace, and leave nothing
// behind: its working folder stays empty and the fixtures stay as they were.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { encode } from 'fast-png';
import { commands } from '../../src/cli/commands/index.js';
import { COMMAND_LOADERS } from '../../src/cli/commands/loaders.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const root = mkdtempSync(path.join(tmpdir(), 'hipfrac-bad-input-'));
after(() => rmSync(root, { recursive: true, force: true }));

// ---------------------------------------------------------------- fixtures (never written by a case)
const fx = path.join(root, 'fixtures');
const F = {
  missing: path.join(fx, 'missing'),
  empty: path.join(fx, 'empty'),
  text: path.join(fx, 'notes.txt'),
  badCsv: path.join(fx, 'bad.csv'),
  badJson: path.join(fx, 'bad.json'),
  image: path.join(fx, 'images', 'a.png'),
  model: path.join(fx, 'model'),
  badModel: path.join(fx, 'bad-model'),
  corruptDataset: path.join(fx, 'corrupt-dataset'),
};
mkdirSync(F.empty, { recursive: true });
mkdirSync(path.dirname(F.image), { recursive: true });
mkdirSync(F.model);
mkdirSync(F.badModel);
mkdirSync(F.corruptDataset);
writeFileSync(F.text, 'not a radiograph\n');
writeFileSync(F.badCsv, 'file,label\na.png,1\n"b.png,0\n');
writeFileSync(F.badJson, '{"images": [ not json');
writeFileSync(F.image, encode({ width: 8, height: 8, data: new Uint8Array(64).fill(90), channels: 1, depth: 8 }));
// A valid card without weights: commands check labels, boxes and regions against it before loading weights.
writeFileSync(path.join(F.model, 'model.json'), JSON.stringify({ architecture: 'resnet18', head: 'fastai', ps: 0.5, classes: ['no fracture', 'fracture'], inputSize: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channels: 'grey-replicated', dataFingerprint: null, metrics: {}, threshold: null, hipfracVersion: 'test', createdAt: '2026-01-01T00:00:00Z', extra: {} }));
writeFileSync(path.join(F.badModel, 'model.json'), '{"architecture": ');
// A damaged line that is not the torn tail of an interrupted append (that one is tolerated).
writeFileSync(path.join(F.corruptDataset, 'manifest.jsonl'), '{"id": damaged}\n{"id": "b"}\n');

/** Every file under `dir` with its size and mtime, to prove a case changed nothing. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      out.push(`${path.relative(dir, p)} ${s.isDirectory() ? 'dir' : `${s.size} ${s.mtimeMs}`}`);
    }
  };
  walk(dir);
  return out;
}
const fixtures = snapshot(fx);

interface Run { status: number | null; stderr: string; stdout: string }

/** Spawns the CLI in `cwd` with a bounded time-out (a command that does not fail early fails the test). */
function runCli(args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: { ...process.env, HIPFRAC_DEBUG: '0', HIPFRAC_SALT_FILE: path.join(root, 'salt') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hipfrac ${args.join(' ')} did not fail within 120 s (stderr: ${stderr.slice(-500)})`));
    }, 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

type Kind = 'missing path' | 'empty folder' | 'wrong file type' | 'malformed CSV' | 'malformed JSON' | 'invalid option' | 'missing option' | 'extra argument';
interface Case { readonly kind: Kind; readonly args: readonly string[]; readonly exit: 1 | 2; readonly code: RegExp }

const USAGE = /HF_CLI_(BAD|MISSING)_OPTION/;
const model = ['--model', F.model];
/** The table: every command, each kind of bad input that applies to it. `out` is a folder inside the case's cwd. */
const CASES: Record<string, readonly Case[]> = {
  demo: [
    { kind: 'invalid option', args: ['--patients', '3'], exit: 2, code: USAGE },
    { kind: 'invalid option', args: ['--arch', 'nope', '--out', 'out'], exit: 2, code: USAGE },
    { kind: 'invalid option', args: ['--bogus'], exit: 2, code: USAGE },
  ],
  doctor: [{ kind: 'invalid option', args: ['--bogus'], exit: 2, code: USAGE }],
  import: [
    { kind: 'extra argument', args: [F.empty, F.text, '--out', 'out'], exit: 2, code: USAGE },
    { kind: 'missing option', args: [F.empty], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.missing, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: [F.empty, '--out', 'out'], exit: 1, code: /HF_DATA_EMPTY/ },
    { kind: 'wrong file type', args: [F.text, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'malformed CSV', args: [path.dirname(F.image), '--out', 'out', '--labels', F.badCsv, '--join', 'path'], exit: 1, code: /HF_DATA_CSV_MALFORMED/ },
    { kind: 'invalid option', args: [F.empty, '--out', 'out', '--layout', 'nope'], exit: 2, code: USAGE },
  ],
  split: [
    { kind: 'extra argument', args: [F.corruptDataset, F.empty], exit: 2, code: USAGE },
    { kind: 'missing option', args: [], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.missing], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: [F.empty], exit: 1, code: /HF_DATA_NO_MANIFEST/ },
    { kind: 'wrong file type', args: [F.text], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'malformed JSON', args: [F.corruptDataset], exit: 1, code: /HF_DATA_MANIFEST_CORRUPT/ },
    { kind: 'invalid option', args: [F.corruptDataset, '--val', '2'], exit: 2, code: USAGE },
  ],
  'check-leakage': [
    { kind: 'extra argument', args: [F.empty, F.empty], exit: 2, code: USAGE },
    { kind: 'missing option', args: [], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.missing], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: [F.empty], exit: 1, code: /HF_DATA_NO_MANIFEST/ },
    { kind: 'wrong file type', args: [F.text], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'invalid option', args: [F.empty, '--bogus'], exit: 2, code: USAGE },
  ],
  qc: [
    { kind: 'extra argument', args: [F.empty, 'stray'], exit: 2, code: USAGE },
    { kind: 'missing option', args: [], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.missing], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: [F.empty], exit: 1, code: /HF_DATA_NO_MANIFEST/ },
    { kind: 'wrong file type', args: [F.text], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'malformed JSON', args: [F.corruptDataset], exit: 1, code: /HF_DATA_MANIFEST_CORRUPT/ },
    { kind: 'invalid option', args: [F.empty, '--blur', '-1'], exit: 2, code: USAGE },
  ],
  phantom: [
    { kind: 'missing option', args: ['--patients', '2'], exit: 2, code: USAGE },
    { kind: 'invalid option', args: ['--patients', 'x', '--out', 'out'], exit: 2, code: USAGE },
    { kind: 'invalid option', args: ['--patients', '2', '--out', 'out', '--difficulty', 'nope'], exit: 2, code: USAGE },
  ],
  'augment-preview': [
    { kind: 'missing option', args: ['--out', 'out/grid.png'], exit: 2, code: USAGE },
    { kind: 'missing path', args: ['--image', F.missing, '--out', 'out/grid.png'], exit: 1, code: /HF_DATA_IMAGE_UNREADABLE/ },
    { kind: 'empty folder', args: ['--image', F.empty, '--out', 'out/grid.png'], exit: 1, code: /HF_DATA_IMAGE_UNREADABLE/ },
    { kind: 'wrong file type', args: ['--image', F.text, '--out', 'out/grid.png'], exit: 1, code: /HF_DATA_IMAGE_UNREADABLE/ },
    { kind: 'invalid option', args: ['--image', F.image, '--out', 'out/grid.png', '--n', '0'], exit: 2, code: USAGE },
  ],
  models: [{ kind: 'invalid option', args: ['--bogus'], exit: 2, code: USAGE }],
  pretrain: [
    { kind: 'missing option', args: ['--data', F.corruptDataset, '--out', 'out'], exit: 2, code: USAGE },
    { kind: 'missing path', args: ['--data', F.missing, '--arch', 'resnet18', '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: ['--data', F.empty, '--arch', 'resnet18', '--out', 'out'], exit: 1, code: /HF_DATA_NO_MANIFEST/ },
    { kind: 'wrong file type', args: ['--data', F.text, '--arch', 'resnet18', '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'malformed JSON', args: ['--data', F.corruptDataset, '--arch', 'resnet18', '--out', 'out'], exit: 1, code: /HF_DATA_MANIFEST_CORRUPT/ },
    { kind: 'invalid option', args: ['--data', F.corruptDataset, '--arch', 'resnet18', '--out', 'out', '--temperature', '0'], exit: 2, code: USAGE },
    { kind: 'invalid option', args: ['--data', F.corruptDataset, '--arch', 'nope', '--out', 'out'], exit: 2, code: USAGE },
  ],
  train: [
    { kind: 'missing option', args: ['--out', 'out'], exit: 2, code: USAGE },
    { kind: 'missing path', args: ['--data', F.missing, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: ['--data', F.empty, '--out', 'out'], exit: 1, code: /HF_DATA_NO_MANIFEST/ },
    { kind: 'wrong file type', args: ['--data', F.text, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'malformed JSON', args: ['--data', F.corruptDataset, '--out', 'out', '--config', F.badJson], exit: 1, code: /HF_CLI_BAD_CONFIG_FILE/ },
    { kind: 'invalid option', args: ['--data', F.corruptDataset, '--out', 'out', '--batch-size', 'x'], exit: 2, code: USAGE },
    { kind: 'invalid option', args: ['--data', F.corruptDataset, '--out', 'out', '--sync-bn'], exit: 2, code: USAGE },
  ],
  compare: [
    { kind: 'missing option', args: ['--data', F.corruptDataset], exit: 2, code: USAGE },
    { kind: 'missing path', args: ['--data', F.missing, '--out', 'out', '--archs', 'resnet18'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: ['--data', F.empty, '--out', 'out', '--archs', 'resnet18'], exit: 1, code: /HF_DATA_NO_MANIFEST/ },
    { kind: 'malformed JSON', args: ['--data', F.corruptDataset, '--out', 'out', '--config', F.badJson], exit: 1, code: /HF_CLI_BAD_CONFIG_FILE/ },
    { kind: 'invalid option', args: ['--data', F.corruptDataset, '--out', 'out', '--archs', 'resnet18,nope'], exit: 2, code: USAGE },
  ],
  predict: [
    { kind: 'missing option', args: [F.image], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.missing, ...model, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: [F.empty, ...model, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'wrong file type', args: [F.text, ...model, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_UNREADABLE/ },
    { kind: 'malformed JSON', args: [F.image, '--model', F.badModel, '--out', 'out'], exit: 1, code: /HF_MODELS_CHECKPOINT_INVALID/ },
    { kind: 'invalid option', args: [F.image, ...model, '--format', 'xml', '--out', 'out'], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.image, '--model', F.empty, '--out', 'out'], exit: 1, code: /HF_MODELS_CHECKPOINT_MISSING/ },
  ],
  explain: [
    { kind: 'extra argument', args: [F.image, F.image, ...model, '--out', 'out'], exit: 2, code: USAGE },
    { kind: 'missing option', args: [F.image, '--out', 'out'], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.missing, ...model, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: [F.empty, ...model, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'wrong file type', args: [F.text, ...model, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_UNREADABLE/ },
    { kind: 'malformed CSV', args: [F.image, ...model, '--boxes', F.badCsv, '--out', 'out'], exit: 1, code: /HF_DATA_CSV_MALFORMED/ },
    { kind: 'malformed JSON', args: [F.image, ...model, '--boxes', F.badJson, '--out', 'out'], exit: 1, code: /HF_DATA_BAD_BOXES/ },
    { kind: 'invalid option', args: [F.image, ...model, '--colormap', 'rainbow', '--out', 'out'], exit: 2, code: USAGE },
  ],
  attack: [
    { kind: 'extra argument', args: [F.image, F.image, ...model, '--out', 'out'], exit: 2, code: USAGE },
    { kind: 'missing option', args: [F.image, '--out', 'out'], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.missing, ...model, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: [F.empty, ...model, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'wrong file type', args: [F.text, ...model, '--out', 'out'], exit: 1, code: /HF_DATA_INPUT_UNREADABLE/ },
    { kind: 'malformed CSV', args: [F.image, ...model, '--labels', F.badCsv, '--out', 'out'], exit: 1, code: /HF_DATA_CSV_MALFORMED/ },
    { kind: 'invalid option', args: [F.image, ...model, '--attack', 'nope', '--out', 'out'], exit: 2, code: USAGE },
  ],
  export: [
    { kind: 'extra argument', args: [F.model, F.model, '--format', 'onnx', '--out', 'out/model.onnx'], exit: 2, code: USAGE },
    { kind: 'missing option', args: [], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.missing, '--format', 'onnx', '--out', 'out/model.onnx'], exit: 1, code: /HF_MODELS_CHECKPOINT_MISSING/ },
    { kind: 'empty folder', args: [F.empty, '--format', 'onnx', '--out', 'out/model.onnx'], exit: 1, code: /HF_MODELS_CHECKPOINT_MISSING/ },
    { kind: 'malformed JSON', args: [F.badModel, '--format', 'onnx', '--out', 'out/model.onnx'], exit: 1, code: /HF_MODELS_CHECKPOINT_INVALID/ },
    { kind: 'invalid option', args: [F.model, '--format', 'tflite', '--out', 'out/model.onnx'], exit: 2, code: USAGE },
  ],
  serve: [
    { kind: 'missing option', args: ['--data', 'out'], exit: 2, code: USAGE },
    { kind: 'missing path', args: ['--model', F.missing, '--data', 'out'], exit: 1, code: /HF_MODELS_CHECKPOINT_MISSING/ },
    { kind: 'empty folder', args: ['--model', F.empty, '--data', 'out'], exit: 1, code: /HF_MODELS_CHECKPOINT_MISSING/ },
    { kind: 'malformed JSON', args: ['--config', F.badJson], exit: 1, code: /HF_SERVE_BAD_CONFIG/ },
    { kind: 'invalid option', args: ['--model', F.model, '--data', 'out', '--dicom-port', 'x'], exit: 2, code: USAGE },
  ],
  token: [
    { kind: 'missing option', args: ['create', '--data', 'out'], exit: 2, code: USAGE },
    { kind: 'invalid option', args: ['create', '--data', 'out', '--name', 'm', '--scope', 'root'], exit: 2, code: USAGE },
    { kind: 'empty folder', args: ['list', '--data', F.empty], exit: 1, code: /HF_CLI_NO_NODE_DATA/ },
    { kind: 'missing path', args: ['revoke', '--data', F.missing, '--id', '1'], exit: 1, code: /HF_CLI_NO_NODE_DATA/ },
  ],
  user: [
    { kind: 'missing option', args: ['add', 'reader1'], exit: 2, code: USAGE },
    { kind: 'invalid option', args: ['add', 'reader1', '--role', 'surgeon', '--data', 'out'], exit: 2, code: USAGE },
    { kind: 'empty folder', args: ['list', '--data', F.empty], exit: 1, code: /HF_CLI_NO_NODE_DATA/ },
    { kind: 'missing path', args: ['unlock', 'reader1', '--data', F.missing], exit: 1, code: /HF_CLI_NO_NODE_DATA/ },
  ],
  feedback: [
    { kind: 'missing option', args: ['export', '--data', F.empty], exit: 2, code: USAGE },
    { kind: 'empty folder', args: ['export', '--out', 'out', '--data', F.empty], exit: 1, code: /HF_CLI_NO_NODE_DATA/ },
    { kind: 'missing path', args: ['export', '--out', 'out', '--data', F.missing], exit: 1, code: /HF_CLI_NO_NODE_DATA/ },
  ],
  'audit-shortcuts': [
    { kind: 'missing option', args: [...model], exit: 2, code: USAGE },
    { kind: 'missing path', args: [...model, '--data', F.missing], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: [...model, '--data', F.empty], exit: 1, code: /HF_DATA_NO_MANIFEST/ },
    { kind: 'wrong file type', args: [...model, '--data', F.text], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'invalid option', args: [...model, '--data', F.empty, '--probe-images', '0'], exit: 2, code: USAGE },
  ],
  'triage-calibrate': [
    { kind: 'extra argument', args: [F.image, F.image, ...model, '--labels', F.badCsv], exit: 2, code: USAGE },
    { kind: 'missing option', args: [F.image, ...model], exit: 2, code: USAGE },
    { kind: 'missing path', args: [F.missing, ...model, '--labels', F.badCsv], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'empty folder', args: [F.empty, ...model, '--labels', F.badCsv], exit: 1, code: /HF_DATA_INPUT_MISSING/ },
    { kind: 'wrong file type', args: [F.text, ...model, '--labels', F.badCsv], exit: 1, code: /HF_DATA_INPUT_UNREADABLE/ },
    { kind: 'malformed CSV', args: [F.image, ...model, '--labels', F.badCsv], exit: 1, code: /HF_DATA_CSV_MALFORMED/ },
    { kind: 'invalid option', args: [F.image, ...model, '--labels', F.badCsv, '--method', 'nope'], exit: 2, code: USAGE },
  ],
};

describe('every command is in the table', () => {
  it('lists each command of src/cli/commands/index.ts, and nothing else', () => {
    assert.deepEqual(Object.keys(CASES).sort(), commands.map((c) => c.name).sort());
  });

  it('the lazy loaders the CLI runs commands through name the same commands and load the same objects', async () => {
    assert.deepEqual(Object.keys(COMMAND_LOADERS).sort(), commands.map((c) => c.name).sort());
    for (const c of commands) assert.equal(await (COMMAND_LOADERS[c.name] as () => Promise<unknown>)(), c, c.name);
  });
});

let caseNumber = 0;
describe('bad input at every command: exit code, a coded error with its fix, no stack trace, nothing left behind', { concurrency: 2 }, () => {
  const all = [...Object.entries(CASES).flatMap(([name, cases]) => cases.map((c) => ({ name, ...c }))), { name: 'nope', kind: 'invalid option' as Kind, args: [], exit: 2 as const, code: /HF_CLI_UNKNOWN_COMMAND/ }];
  for (const c of all) {
    it(`${c.name}: ${c.kind} (${c.args.map((a) => a.replace(fx, '…')).join(' ')}) → exit ${c.exit}`, async () => {
      const cwd = path.join(root, 'cases', String(caseNumber++));
      mkdirSync(cwd, { recursive: true });
      const run = await runCli([c.name, ...c.args], cwd);
      assert.equal(run.status, c.exit, `exit status; stderr: ${run.stderr}`);
      assert.match(run.stderr, /^hipfrac: HF_[A-Z0-9_]+: /m, 'one line: hipfrac: CODE: message');
      assert.match(run.stderr, c.code);
      assert.match(run.stderr, /Fix: \S/, 'the fix is on stderr');
      assert.doesNotMatch(`${run.stderr}\n${run.stdout}`, /^\s+at .+[(:]\d+/m, 'no stack trace');
      assert.deepEqual(readdirSync(cwd), [], 'nothing written in the working folder');
      assert.deepEqual(snapshot(fx), fixtures, 'fixtures unchanged');
    });
  }
});

describe('named cases', () => {
  it('compare refuses to reuse a finished run whose configuration differs, naming the difference, before training', async () => {
    const dataset = path.join(root, 'dataset');
    mkdirSync(dataset, { recursive: true });
    writeFileSync(path.join(dataset, 'manifest.jsonl'), '');
    const cwd = path.join(root, 'compare-case');
    const runDir = path.join(cwd, 'out', 'resnet18');
    mkdirSync(runDir, { recursive: true });
    writeFileSync(path.join(runDir, 'results.json'), JSON.stringify({ config: { arch: 'resnet18', batchSize: 16 }, predictions: [], parameters: 1, seconds: 1, imagesPerSecond: { inference: 1 } }));
    const before = snapshot(cwd);
    const run = await runCli(['compare', '--data', dataset, '--out', 'out', '--archs', 'resnet18', '--batch-size', '8'], cwd);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /HF_CLI_COMPARE_MISMATCH/);
    assert.match(run.stderr, /batchSize: 16 → 8/);
    assert.match(run.stderr, /Fix: .*delete/);
    assert.deepEqual(snapshot(cwd), before, 'nothing trained, nothing written');
  });
});

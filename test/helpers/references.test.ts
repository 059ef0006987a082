// The reference finder's promise, checked in a child `node --test`: with HIPFRAC_PYTHON pointing at an interpreter
// that cannot import torch, a test that needs PyTorch fails the run under CI=true (naming the package to install)
// and skips (exit 0, saying why) without it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const fixture = fileURLToPath(new URL('./fixtures/needs-torch.fixture.js', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-references-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A "python" that fails every import, as an interpreter without torch does. */
const noTorchPython = path.join(dir, 'python-without-torch');
writeFileSync(noTorchPython, '#!/bin/sh\necho "ModuleNotFoundError: No module named torch" >&2\nexit 1\n');
chmodSync(noTorchPython, 0o755);

function runFixture(extraEnv: Record<string, string>): { status: number | null; output: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, HIPFRAC_PYTHON: noTorchPython, ...extraEnv };
  for (const name of ['CI', 'HIPFRAC_REQUIRE_REFERENCES', 'NODE_TEST_CONTEXT']) if (!(name in extraEnv)) delete env[name];
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', fixture], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.error, undefined, String(run.error));
  return { status: run.status, output: `${run.stdout}\n${run.stderr}` };
}

test('under CI=true a missing reference fails the run and names the package to install', () => {
  const { status, output } = runFixture({ CI: 'true' });
  assert.notEqual(status, 0, output);
  assert.match(output, /not ok .*reference torch is installed/);
  assert.match(output, /python3-torch/);
  assert.match(output, new RegExp(noTorchPython.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the message names the interpreter HIPFRAC_PYTHON chose');
});

test('HIPFRAC_REQUIRE_REFERENCES=1 asks for the same outside CI', () => {
  const { status, output } = runFixture({ HIPFRAC_REQUIRE_REFERENCES: '1' });
  assert.notEqual(status, 0, output);
  assert.match(output, /python3-torch/);
});

test('outside CI the test skips, saying what is missing, and the run passes', () => {
  const { status, output } = runFixture({});
  assert.equal(status, 0, output);
  assert.match(output, /# SKIP needs torch \(apt-get install python3-torch\)/);
  assert.match(output, /# fail 0/);
});

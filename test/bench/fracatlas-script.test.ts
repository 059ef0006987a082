// scripts/fracatlas.sh refuses settings it cannot honour before any work: an on/off variable that is neither 0 nor 1
// and a PRETRAIN that is not SIZE:EPOCHS exit with status 2, name the variable and the fix, and create nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function runScript(env: Readonly<Record<string, string>>): { status: number | null; stderr: string; outCreated: boolean } {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-fracatlas-sh-'));
  const out = path.join(dir, 'run');
  try {
    const r = spawnSync('bash', ['scripts/fracatlas.sh'], { cwd: root, env: { ...process.env, ...env, OUT: out, FRACATLAS: path.join(dir, 'no-such-dataset') }, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stderr: r.stderr, outCreated: existsSync(out) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('scripts/fracatlas.sh settings', () => {
  for (const [name, value, says] of [
    ['PRETRAIN', '160', "PRETRAIN='160' is not SIZE:EPOCHS"],
    ['PRETRAIN', '160:0', "PRETRAIN='160:0' is not SIZE:EPOCHS"],
    ['BALANCED', 'yes', "BALANCED='yes' is neither 0 nor 1"],
    ['AUGMENT', 'off', "AUGMENT='off' is neither 0 nor 1"],
  ] as const) {
    it(`refuses ${name}=${value} before any work`, () => {
      const r = runScript({ [name]: value });
      assert.equal(r.status, 2, r.stderr);
      assert.ok(r.stderr.includes(says), r.stderr);
      assert.match(r.stderr, /^fix: /m);
      assert.equal(r.outCreated, false, 'the run folder was created');
    });
  }
});

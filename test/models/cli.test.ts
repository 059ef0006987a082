// `hipfrac models`: lists every architecture with its size, input, Grad-CAM layer and whether its
// torchvision weight file is in the weights directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modelsCommand } from '../../src/cli/commands/models.js';
import { listModels } from '../../src/models/index.js';

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  try {
    const code = await modelsCommand.run(argv);
    return { code, out: lines.join('\n') };
  } finally {
    console.log = original;
  }
}

test('hipfrac models: every architecture, its parameter count and which weight files are present', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-weights-'));
  try {
    writeFileSync(path.join(dir, 'densenet169-b2777c0a.pth'), 'placeholder');
    const { code, out } = await capture(['--weights-dir', dir, '--json']);
    assert.equal(code, 0);
    const report = JSON.parse(out) as { weightsDir: string; models: { name: string; parameters: number; found: string | null; gradCamLayer: string }[] };
    assert.equal(report.weightsDir, dir);
    assert.deepEqual(report.models.map((m) => m.name), listModels().map((s) => s.name));
    const byName = new Map(report.models.map((m) => [m.name, m]));
    assert.equal(byName.get('densenet169')?.found, path.join(dir, 'densenet169-b2777c0a.pth'));
    assert.equal(byName.get('resnet50')?.found, null);
    assert.equal(byName.get('resnet50')?.parameters, 25557032);
    assert.equal(byName.get('densenet169')?.parameters, 14149480);
    const text = await capture(['--weights-dir', dir]);
    assert.match(text.out, /densenet169\s+14\.1 M\s+224 px\s+body\.features\.norm5\s+found/);
    assert.match(text.out, /https:\/\/download\.pytorch\.org\/models\/alexnet-owt-7be5be79\.pth/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

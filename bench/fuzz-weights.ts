// The weight-file fuzzer: seeded damage to .pth files written by PyTorch (zip and legacy formats) and to a
// safetensors file, each read by hipfrac in a child process within 2 s; every refusal must be a coded HipfracError.
// Writes bench/results/fuzz-weights.json.
//   node dist/bench/fuzz-weights.js [--cases 2000] [--seed 1] [--workers 2] [--out bench/results/fuzz-weights.json]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { rng, runCases, summarise, type FuzzCase } from './lib/fuzzRunner.js';
import { machineDescription, REPO_ROOT } from './lib/results.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? (process.argv[at + 1] as string) : fallback;
}

interface Seed {
  readonly label: string;
  readonly bytes: Uint8Array;
}

/** PyTorch writes the .pth seeds (HIPFRAC_PYTHON or /usr/bin/python3 with torch). */
export function pthSeeds(dir: string, python = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3'): Seed[] {
  const script = String.raw`
import sys, os, collections, torch
d = sys.argv[1]
torch.manual_seed(3)
sd = collections.OrderedDict([('conv.weight', torch.randn(4, 2, 3, 3)), ('bn.running_mean', torch.randn(4)), ('fc.bias', torch.randn(3).half()), ('steps', torch.tensor(7))])
torch.save(sd, os.path.join(d, 'zip.pth'))
torch.save(sd, os.path.join(d, 'legacy.pth'), _use_new_zipfile_serialization=False)
torch.save({'state_dict': sd, 'epoch': 3}, os.path.join(d, 'checkpoint.pth'))
`;
  execFileSync(python, ['-c', script, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return ['zip', 'legacy', 'checkpoint'].map((name) => ({ label: `pth ${name}`, bytes: new Uint8Array(readFileSync(path.join(dir, `${name}.pth`))) }));
}

/** A safetensors file made from its specification (header JSON + little-endian data), no hipfrac code involved. */
export function safetensorsSeed(): Seed {
  const header = JSON.stringify({ __metadata__: { format: 'pt' }, a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] }, b: { dtype: 'I64', shape: [2], data_offsets: [24, 40] } });
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  const data = Buffer.alloc(40);
  for (let i = 0; i < 6; i++) data.writeFloatLE(i * 0.5, 4 * i);
  data.writeBigInt64LE(-3n, 24);
  data.writeBigInt64LE(9n, 32);
  return { label: 'safetensors', bytes: Buffer.concat([length, Buffer.from(header), data]) };
}

const MUTATIONS = ['bit-flips', 'truncation', 'splice', 'lying-u32', 'tail-bit-flips', 'header-json'] as const;

function mutate(seed: Uint8Array, kind: (typeof MUTATIONS)[number], r: () => number): Uint8Array {
  const out = Uint8Array.from(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const view = new DataView(out.buffer);
  switch (kind) {
    case 'bit-flips':
      for (let i = 1 + int(16); i > 0; i--) {
        const at = int(out.length);
        out[at] = (out[at] as number) ^ (1 << int(8));
      }
      return out;
    case 'truncation':
      return out.subarray(0, int(out.length));
    case 'splice': {
      const at = int(out.length);
      for (let i = 0; i < 1 + int(48) && at + i < out.length; i++) out[at + i] = int(256);
      return out;
    }
    case 'lying-u32': {
      // sizes, offsets and counts of zip records and pickle opcodes are little-endian 32-bit words
      const at = int(Math.max(1, out.length - 4));
      view.setUint32(at, [0, 1, 0x7fffffff, 0xffffffff, out.length, int(0x100000000)][int(6)] as number, true);
      return out;
    }
    case 'tail-bit-flips': {
      // the zip central directory and end record live in the last few hundred bytes
      for (let i = 1 + int(8); i > 0; i--) {
        const at = Math.max(0, out.length - 1 - int(Math.min(out.length, 600)));
        out[at] = (out[at] as number) ^ (1 << int(8));
      }
      return out;
    }
    case 'header-json': {
      // safetensors: digits in the JSON header changed (shapes, offsets); pth: bytes near the start
      const end = Math.min(out.length, 8 + Number(out.length >= 8 ? Math.min(view.getUint32(0, true), 4096) : 0));
      const digits: number[] = [];
      for (let i = 8; i < end; i++) if ((out[i] as number) >= 0x30 && (out[i] as number) <= 0x39) digits.push(i);
      if (digits.length === 0) return mutate(seed, 'bit-flips', r);
      for (let i = 1 + int(3); i > 0; i--) out[digits[int(digits.length)] as number] = 0x30 + int(10);
      return out;
    }
  }
}

function* cases(seeds: readonly Seed[], runSeed: number, count: number): Generator<FuzzCase> {
  for (let index = 0; index < count; index++) {
    const r = rng((runSeed * 0x9e3779b1 + index * 0x85ebca6b) >>> 0);
    const seed = seeds[index % seeds.length] as Seed;
    const kind = MUTATIONS[Math.floor(r() * MUTATIONS.length)] as (typeof MUTATIONS)[number];
    let bytes = mutate(seed.bytes, kind, r);
    if (r() < 0.2) bytes = mutate(bytes, MUTATIONS[Math.floor(r() * MUTATIONS.length)] as (typeof MUTATIONS)[number], r);
    yield { index, label: `${seed.label} #${index}`, mutation: kind, bytes };
  }
}

/** Runs `count` cases; the bench and the suite share it. */
export async function fuzzWeights(count: number, runSeed: number, workers: number): Promise<ReturnType<typeof summarise> & { seedFiles: string[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-fuzz-weights-'));
  try {
    const seeds = [...pthSeeds(dir), safetensorsSeed()];
    const results = await runCases(cases(seeds, runSeed, count), {
      workerUrl: new URL('./lib/fuzzWeightsWorker.js', import.meta.url),
      workers,
      timeLimitMs: 2000,
      heapMb: 1024,
      isolation: 'process',
    });
    return { ...summarise(results), seedFiles: seeds.map((s) => s.label) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const count = Number(option('cases', '2000'));
  const seed = Number(option('seed', '1'));
  const workers = Number(option('workers', '2'));
  const out = path.resolve(REPO_ROOT, option('out', 'bench/results/fuzz-weights.json'));
  const started = Date.now();
  const summary = await fuzzWeights(count, seed, workers);
  const report = {
    benchmark: 'fuzz-weights',
    command: `node dist/bench/fuzz-weights.js --cases ${count} --seed ${seed} --workers ${workers}`,
    machine: machineDescription(),
    date: new Date().toISOString().slice(0, 10),
    timeLimitMs: 2000,
    seconds: Math.round((Date.now() - started) / 1000),
    ...summary,
  };
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`${summary.cases} cases: ${summary.accepted} accepted, ${summary.rejected} rejected (coded), ${summary.crashes} crashes, ${summary.hangs} hangs → ${path.relative(REPO_ROOT, out)}`);
  for (const f of summary.failures) console.log(`case ${f.index} (${f.label}, ${f.mutation}): ${f.outcome} ${f.message ?? ''}`);
  process.exitCode = summary.crashes + summary.hangs === 0 ? 0 : 1;
}

// Benchmark: one epoch end to end (decode, augment, train) against torchvision ImageFolder + Pillow transforms
// + DataLoader(num_workers=2) with the same model, batch, size and augmentation, interleaved on one machine.
//
// Usage: node dist/bench/epoch.js [--images 64] [--archs resnet50,densenet169] [--rounds 2] [--size 224]
// Writes bench/results/epoch.json. Needs /usr/bin/python3 with torch + torchvision (HIPFRAC_PYTHON overrides)
// and ../shared/datasets/fracatlas-nonhip (HIPFRAC_BENCH_IMAGES overrides).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { ImageLoader, defaultAugmentConfig, type Sample } from '../src/data/index.js';
import { createClassifier } from '../src/models/index.js';
import { Adam } from '../src/nn/index.js';
import { crossEntropy, dispose, getNumThreads, rand, tidy, zeros, type Tensor } from '../src/torch/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const PYTHON = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3';
const DATASET = process.env['HIPFRAC_BENCH_IMAGES'] ?? path.resolve(repo, '..', 'shared', 'datasets', 'fracatlas-nonhip');
const PEER = path.join(repo, 'bench', 'peers', 'torchvision_epoch.py');
// The allocator settings our addon applies at load (see DESIGN.md: this VM's page faults are slow).
const GLIBC_TUNED = { MALLOC_MMAP_THRESHOLD_: String(1 << 30), MALLOC_TRIM_THRESHOLD_: String(1 << 30), MALLOC_TOP_PAD_: String(256 << 20) };

interface Entry {
  benchmark: string;
  ours: number;
  peer: number;
  ratio: number;
  unit: string;
  machine: string;
  date: string;
  note: string;
}

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '64' },
    archs: { type: 'string', default: 'resnet50,densenet169' },
    rounds: { type: 'string', default: '2' },
    size: { type: 'string', default: '224' },
    batch: { type: 'string', default: '32' },
    // Internal: run one of our training epochs in a child process and print its Run as JSON (see oursTrainInChild).
    'child-train': { type: 'string' },
    'child-root': { type: 'string' },
    'child-epoch': { type: 'string', default: '0' },
  },
});
const count = Number(values.images);
const size = Number(values.size);
const batchSize = Number(values.batch);
const rounds = Number(values.rounds);

/** The first `count` images of the set as 8-bit grey PNGs, longest side ≤ 512 (as the dataset cache holds them), in ImageFolder layout. */
async function prepareImages(root: string): Promise<Sample[]> {
  const rows = readFileSync(path.join(DATASET, 'labels.csv'), 'utf8').trim().split('\n');
  const header = (rows[0] as string).split(',');
  const nameCol = header.indexOf('image_id');
  const labelCol = header.indexOf('fractured');
  const samples: Sample[] = [];
  for (const row of rows.slice(1, count + 1)) {
    const fields = row.split(',');
    const label = Number(fields[labelCol]);
    const dir = path.join(root, String(label));
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${path.parse(fields[nameCol] as string).name}.png`);
    await sharp(path.join(DATASET, 'images', fields[nameCol] as string)).resize({ width: 512, height: 512, fit: 'inside', withoutEnlargement: true }).toColourspace('b-w').png().toFile(file);
    samples.push({ imagePath: file, label });
  }
  return samples;
}

interface Run {
  seconds: number;
  /** CPU time of every thread (ours) or of the process and its worker processes (peer): less sensitive to a busy machine. */
  cpuSeconds: number;
  images: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * A loader epoch in steady state: the loader (and its worker threads) is made once per training run, so one
 * untimed epoch comes first. The peer does the same (its DataLoader re-forks its workers every epoch by default).
 */
async function oursLoaderEpoch(samples: Sample[], epoch: number): Promise<Run> {
  const loader = new ImageLoader(samples, { batchSize, imageSize: size, augment: defaultAugmentConfig, seed: epoch, memoryCacheBytes: 0 });
  try {
    for await (const batch of loader.epoch(0)) dispose(batch);
    const start = performance.now();
    const cpu = cpuNow();
    let seen = 0;
    for await (const batch of loader.epoch(1)) {
      seen += batch.indices.length;
      dispose(batch);
    }
    return { seconds: (performance.now() - start) / 1000, cpuSeconds: cpuNow() - cpu, images: seen };
  } finally {
    await loader.close();
  }
}

async function oursTrainEpoch(samples: Sample[], arch: string, epoch: number): Promise<Run> {
  const model = createClassifier(arch, { weights: null });
  model.train();
  const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
  const step = (images: Tensor, labels: Tensor): void =>
    tidy(() => {
      optimizer.zeroGrad();
      crossEntropy(model.call(images), labels).backward();
    });
  // One warm-up step outside the timing, as the peer does (no optimiser step, so Adam starts fresh).
  tidy(() => step(rand([batchSize, 1, size, size]), zeros([batchSize], { dtype: 'int64' })));
  optimizer.zeroGrad();
  // The loader (worker start-up included) is made inside the timing, as the peer forks its workers inside it.
  const start = performance.now();
  const cpu = cpuNow();
  const loader = new ImageLoader(samples, { batchSize, imageSize: size, augment: defaultAugmentConfig, seed: epoch, memoryCacheBytes: 0 });
  let seen = 0;
  try {
    for await (const batch of loader.epoch(epoch)) {
      try {
        step(batch.images, batch.labels);
        tidy(() => optimizer.step());
        seen += batch.indices.length;
      } finally {
        dispose(batch);
      }
    }
  } finally {
    await loader.close();
  }
  const seconds = (performance.now() - start) / 1000;
  const cpuSeconds = cpuNow() - cpu;
  model.dispose();
  return { seconds, cpuSeconds, images: seen };
}

/**
 * Our training epoch in a child process, like the peer's: the allocator keeps freed memory (DESIGN.md's malloc
 * tunables), so a model trained in this process would still hold gigabytes while the peer runs.
 */
function oursTrainInChild(root: string, arch: string, epoch: number): Run {
  const args = [fileURLToPath(import.meta.url), '--child-train', arch, '--child-root', root, '--child-epoch', String(epoch), '--size', String(size), '--batch', String(batchSize)];
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (run.status !== 0) throw new Error(`our training epoch failed (${arch}):\n${run.stderr.slice(-3000)}`);
  return JSON.parse(run.stdout.trim().split('\n').pop() as string) as Run;
}

/** The samples of an ImageFolder-style root (one folder per class index), as the child process finds them. */
function samplesOf(root: string): Sample[] {
  return readdirSync(root)
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => readdirSync(path.join(root, d)).map((f) => ({ imagePath: path.join(root, d, f), label: Number(d) })));
}

function peerEpoch(root: string, mode: 'loader' | 'train', arch: string, tuned: boolean): Run {
  const args = [PEER, root, '--mode', mode, '--arch', arch, '--batch', String(batchSize), '--size', String(size), '--threads', String(getNumThreads())];
  const run = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, ...(tuned ? GLIBC_TUNED : {}) }, maxBuffer: 16 << 20 });
  if (run.status !== 0) throw new Error(`peer failed (${PYTHON} ${args.join(' ')}):\n${run.stderr.slice(-3000)}`);
  const last = run.stdout.trim().split('\n').pop() as string;
  return JSON.parse(last) as Run;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg()[0]?.toFixed(1)} at start`;
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-bench-epoch-'));
  const entries: Entry[] = [];
  const date = new Date().toISOString();
  const host = machine();
  try {
    const samples = await prepareImages(root);
    console.log(`${samples.length} images at ${size} px, batch ${batchSize}, ${rounds} interleaved rounds; ${host}`);
    // `untuned`: also run the peer without our malloc tunables (cheap for the loader; an epoch of training is not).
    const jobs: { benchmark: string; ours: (round: number) => Promise<Run>; peer: (tuned: boolean) => Run; note: string; untuned: boolean }[] = [
      {
        benchmark: `loader epoch in steady state (decode + resize + augment), ${samples.length} images`,
        ours: (r) => oursLoaderEpoch(samples, r),
        peer: (tuned) => peerEpoch(root, 'loader', 'none', tuned),
        note: 'no model; ours: 2 worker threads + batch augmentation on tensors; peer: 2 DataLoader processes with per-image Pillow transforms',
        untuned: true,
      },
      ...values.archs.split(',').filter((arch) => arch !== '').map((arch) => ({
        benchmark: `${arch} train epoch (decode + augment + forward/backward/Adam), ${samples.length} images`,
        ours: (r: number) => Promise.resolve(oursTrainInChild(root, arch, r)),
        peer: (tuned: boolean) => peerEpoch(root, 'train', arch, tuned),
        note: `${arch} from scratch + fastai head, batch ${batchSize}, ${size} px, Adam`,
        untuned: false,
      })),
    ];
    for (const job of jobs) {
      const ours: number[] = [];
      const peer: number[] = [];
      const peerAsItComes: number[] = [];
      const oursCpu: number[] = [];
      const peerCpu: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const o = await job.ours(r);
        ours.push(o.images / o.seconds);
        const p = job.peer(true);
        peer.push(p.images / p.seconds);
        const q = job.untuned ? job.peer(false) : null;
        if (q !== null) peerAsItComes.push(q.images / q.seconds);
        oursCpu.push((1000 * o.cpuSeconds) / o.images);
        peerCpu.push((1000 * p.cpuSeconds) / p.images);
        console.log(
          `  ${job.benchmark} round ${r + 1}: ours ${(o.images / o.seconds).toFixed(2)} img/s (${oursCpu.at(-1)?.toFixed(1)} CPU ms/img), ` +
            `peer ${(p.images / p.seconds).toFixed(2)} (glibc tuned, ${peerCpu.at(-1)?.toFixed(1)} CPU ms/img) / ${q === null ? 'not run' : (q.images / q.seconds).toFixed(2)} (as it comes)`,
        );
      }
      const o = median(ours);
      const p = median(peer);
      const untuned = peerAsItComes.length === 0 ? 'not run' : `${median(peerAsItComes).toFixed(2)} img/s (ratio ${(o / median(peerAsItComes)).toFixed(2)})`;
      entries.push({ benchmark: job.benchmark, ours: o, peer: p, ratio: o / p, unit: 'images/s (median of rounds)', machine: host, date, note: `${job.note}; peer with our glibc malloc tunables; peer as it comes: ${untuned}` });
      // CPU time per image: lower is better, so the ratio is peer / ours (above 1 = ours cheaper).
      const oc = median(oursCpu);
      const pc = median(peerCpu);
      entries.push({ benchmark: `${job.benchmark}, CPU time`, ours: oc, peer: pc, ratio: pc / oc, unit: 'CPU ms per image (median of rounds; ratio = peer / ours)', machine: host, date, note: `${job.note}; all threads and worker processes counted` });
      save(entries); // after each job, so a long run that is stopped keeps what it measured
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  for (const e of entries) console.log(`${e.benchmark}: ours ${e.ours.toFixed(2)}, peer ${e.peer.toFixed(2)} ${e.unit}, ratio ${e.ratio.toFixed(2)}`);
  console.log(`Wrote ${OUT}`);
}

const OUT = path.join(repo, 'bench', 'results', 'epoch.json');
/** Writes the entries, keeping earlier results of benchmarks this run did not measure (e.g. with --archs ''). */
function save(entries: readonly Entry[]): void {
  mkdirSync(path.dirname(OUT), { recursive: true });
  let previous: Entry[] = [];
  try {
    previous = JSON.parse(readFileSync(OUT, 'utf8')) as Entry[];
  } catch {
    previous = [];
  }
  const measured = new Set(entries.map((e) => e.benchmark));
  writeFileSync(OUT, `${JSON.stringify([...previous.filter((e) => !measured.has(e.benchmark)), ...entries], null, 2)}\n`);
}

if (values['child-train'] !== undefined) {
  const run = await oursTrainEpoch(samplesOf(values['child-root'] as string), values['child-train'], Number(values['child-epoch']));
  console.log(JSON.stringify(run));
} else {
  await main();
}

// Shared benchmark plumbing: the machine description, medians, the peer-process protocol, and the writer
// of bench/results/<name>.json entries plus their section of docs/benchmarks.md.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/lib → two up in the sources, three in dist/). */
export const REPO_ROOT = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const root = path.resolve(here, up);
    if (existsSync(path.join(root, 'package.json'))) return root;
  }
  throw new Error(`bench: cannot find the repository root above ${here}`);
})();

export interface BenchEntry {
  readonly benchmark: string;
  readonly ours: number;
  readonly peer: number | null;
  /** Higher is better for us: peer_time / our_time for times, ours / peer for rates. */
  readonly ratio: number | null;
  readonly unit: string;
  readonly machine: string;
  /** ISO date (UTC) of the run. */
  readonly date: string;
  /** What the peer was and anything needed to read the numbers. */
  readonly notes?: string;
}

/** "AMD EPYC, 2 cores (2 CPUs), Linux 6.1": lscpu's model name and core count, as the docs report it. */
export function machineDescription(): string {
  let model = os.cpus()[0]?.model ?? 'unknown CPU';
  let cores = os.cpus().length;
  try {
    const lscpu = execFileSync('lscpu', { encoding: 'utf8' });
    const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(lscpu)?.[1]?.trim();
    model = field('Model name') ?? model;
    const perSocket = Number(field('Core\\(s\\) per socket'));
    const sockets = Number(field('Socket\\(s\\)'));
    if (perSocket > 0 && sockets > 0) cores = perSocket * sockets;
  } catch {
    // lscpu is missing on some minimal images; os.cpus() is close enough.
  }
  return `${model}, ${cores} cores (${os.availableParallelism()} CPUs), ${os.type()} ${os.release()}`;
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Ratio with "higher is better for us": times compare peer/ours, rates ours/peer. */
export function ratioOf(ours: number, peer: number | null, lowerIsBetter: boolean): number | null {
  if (peer === null || ours <= 0 || peer <= 0) return null;
  return lowerIsBetter ? peer / ours : ours / peer;
}

/** Per-call cost: wall-clock seconds and process CPU seconds (user + system, all threads). */
export interface Timing {
  readonly wall: number;
  readonly cpu: number;
}

/**
 * Seconds per call of fn over `iterations` calls after `warmup` untimed ones. CPU time is reported too:
 * on a shared, oversubscribed machine wall time mostly measures the neighbours, while process CPU time
 * still measures the work (page faults included, as system time).
 */
export function timeIt(fn: () => void, iterations: number, warmup = 1): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9 / iterations;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 / iterations };
}

// ------------------------------------------------------------------------------------------------
// Peer processes: a long-lived Python (or other) process answering one JSON request per line, so a
// benchmark can alternate ours/peer round by round in one run.

export class Peer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  /** Starts `command args`; `env` is merged over this process's environment. */
  constructor(readonly label: string, command: string, args: readonly string[], env: Readonly<Record<string, string>> = {}) {
    this.child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  /** Sends one request and waits for its one-line JSON reply. */
  async request<T>(message: Readonly<Record<string, unknown>>): Promise<T> {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
    const next = await this.lines.next();
    if (next.done === true) throw new Error(`peer ${this.label} exited: ${this.stderr}`);
    const reply = JSON.parse(next.value) as T & { error?: string };
    if (reply.error !== undefined) throw new Error(`peer ${this.label}: ${reply.error}`);
    return reply;
  }

  close(): void {
    this.child.stdin.end();
  }
}

// ------------------------------------------------------------------------------------------------
// Results: bench/results/<name>.json and docs/benchmarks.md

export function resultsPath(name: string): string {
  return path.join(REPO_ROOT, 'bench', 'results', `${name}.json`);
}

export function readResults<T extends { readonly benchmark: string } = BenchEntry>(name: string): T[] {
  const file = resultsPath(name);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T[]) : [];
}

/**
 * Merges entries into bench/results/<name>.json: an entry replaces the stored one with the same
 * `benchmark` name, others are kept, so several bench scripts can share one results file. Entries other than
 * timing rows (T) only need a `benchmark` name.
 */
export function writeResults<T extends { readonly benchmark: string } = BenchEntry>(name: string, entries: readonly T[]): T[] {
  const merged = readResults<T>(name).filter((old) => !entries.some((e) => e.benchmark === old.benchmark));
  merged.push(...entries);
  mkdirSync(path.dirname(resultsPath(name)), { recursive: true });
  writeFileSync(resultsPath(name), `${JSON.stringify(merged, null, 2)}\n`);
  return merged;
}

function formatNumber(x: number | null): string {
  if (x === null) return '—';
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** A markdown table of entries: benchmark | hipfrac | peer | ratio | unit | notes. */
export function markdownTable(entries: readonly BenchEntry[]): string {
  const rows = ['| benchmark | hipfrac | peer | ratio (≥ 1: hipfrac faster) | unit | notes |', '| --- | ---: | ---: | ---: | --- | --- |'];
  for (const e of entries) {
    rows.push(`| ${e.benchmark} | ${formatNumber(e.ours)} | ${formatNumber(e.peer)} | ${e.ratio === null ? '—' : e.ratio.toFixed(2)} | ${e.unit} | ${e.notes ?? ''} |`);
  }
  return rows.join('\n');
}

/**
 * Writes (or replaces) the section of docs/benchmarks.md between `<!-- bench:<name>:start -->` and
 * `<!-- bench:<name>:end -->`, appending it when absent; other sections are left alone.
 */
export function writeDocSection(name: string, markdown: string): string {
  const file = path.join(REPO_ROOT, 'docs', 'benchmarks.md');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  let doc = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmarks\n\nMeasured by `bench/` (not tests), each against a peer on the same machine in one run. Raw entries live in\n`bench/results/*.json`; each section below is rewritten by its benchmark script.\n';
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i >= 0 && j > i) doc = doc.slice(0, i) + block + doc.slice(j + end.length);
  else doc = `${doc.trimEnd()}\n\n${block}\n`;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, doc.endsWith('\n') ? doc : `${doc}\n`);
  return file;
}

// ------------------------------------------------------------------------------------------------
// Interleaved timing against peers

export interface Contender {
  readonly label: string;
  /** Seconds per iteration of `bench` over `iters` iterations (after its own warm-up). */
  readonly run: (bench: string, iters: number) => Promise<Timing>;
}

/** A Contender backed by a Peer speaking bench/peers/torch_ops.py's protocol. */
export function peerContender(peer: Peer, warmup = 1): Contender {
  return {
    label: peer.label,
    run: async (bench, iters) => {
      const r = await peer.request<{ seconds: number; cpu_seconds: number }>({ cmd: 'run', bench, iters, warmup });
      return { wall: r.seconds, cpu: r.cpu_seconds };
    },
  };
}

/**
 * Times every bench on every contender, alternating contenders within each round (and rotating who goes
 * first) so that load drifting on a shared machine hits all of them alike. Returns medians (s/iter) per
 * bench and contender label.
 */
export async function interleave(benches: readonly { name: string; iters: number }[], contenders: readonly Contender[], rounds: number): Promise<Map<string, Map<string, Timing>>> {
  const samples = new Map<string, Map<string, Timing[]>>();
  for (const b of benches) samples.set(b.name, new Map(contenders.map((c) => [c.label, []])));
  for (let r = 0; r < rounds; r++) {
    for (const b of benches) {
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + r) % contenders.length] as Contender;
        samples.get(b.name)?.get(c.label)?.push(await c.run(b.name, b.iters));
      }
    }
  }
  const out = new Map<string, Map<string, Timing>>();
  for (const [name, byLabel] of samples) {
    out.set(name, new Map([...byLabel].map(([label, xs]) => [label, { wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) }])));
  }
  return out;
}

/** The glibc tunables equal to the addon's mallopt calls at load (native/addon.cc, tuneMalloc). */
export const ADDON_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(1 << 30),
  MALLOC_TRIM_THRESHOLD_: String(1 << 30),
  MALLOC_TOP_PAD_: String(256 << 20),
};

/** "load average 15.1 (2 CPUs)": benchmarks on a shared machine must say how busy it was. */
export function loadNote(): string {
  return `load average ${os.loadavg()[0]?.toFixed(1)} over the last minute on ${os.availableParallelism()} CPUs`;
}

/**
 * Entries for each bench × peer × metric (wall and CPU time) from interleave()'s medians, with times
 * scaled to `unit` (e.g. 1e3 for ms). Ratio = peer time / our time.
 */
export function timeEntries(
  medians: ReadonlyMap<string, ReadonlyMap<string, Timing>>,
  benches: readonly { name: string; label: string }[],
  options: { ours: string; peers: readonly string[]; unit: string; scale: number; notes: (bench: string) => string },
): BenchEntry[] {
  const machine = machineDescription();
  const date = today();
  const entries: BenchEntry[] = [];
  for (const metric of ['wall', 'cpu'] as const) {
    for (const b of benches) {
      const m = medians.get(b.name);
      const ours = m?.get(options.ours)?.[metric];
      if (m === undefined || ours === undefined) continue;
      for (const peer of options.peers) {
        const theirs = m.get(peer)?.[metric] ?? null;
        entries.push({
          benchmark: `${b.label} — ${metric === 'wall' ? 'wall' : 'CPU'} time vs ${peer}`,
          ours: ours * options.scale,
          peer: theirs === null ? null : theirs * options.scale,
          ratio: ratioOf(ours, theirs, true),
          unit: options.unit,
          machine,
          date,
          notes: options.notes(b.name),
        });
      }
    }
  }
  return entries;
}

/**
 * The engine benchmarks' common run: `benches` interleaved for `rounds` rounds against Python PyTorch
 * (bench/peers/torch_ops.py) as it comes and with the addon's malloc settings; the entries go to
 * bench/results/engine.json and `section` of docs/benchmarks.md, headed by `intro(machine, date, load)`.
 */
export async function benchAgainstTorch(options: {
  readonly benches: readonly { name: string; iters: number; label: string }[];
  readonly ours: (bench: string, iters: number) => Timing;
  readonly setup: Readonly<Record<string, unknown>>;
  readonly rounds: number;
  readonly threads: number;
  readonly unit: string;
  readonly scale: number;
  /** What one timed iteration is called in the notes ('iterations', 'calls'). */
  readonly per: string;
  readonly section: string;
  readonly intro: (machine: string, date: string, load: string) => string;
}): Promise<void> {
  const python = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3';
  const script = path.join(REPO_ROOT, 'bench', 'peers', 'torch_ops.py');
  const plain = new Peer('PyTorch', python, [script]);
  const tuned = new Peer('PyTorch + tunables', python, [script], ADDON_MALLOC_ENV);
  const ours: Contender = { label: 'hipfrac', run: async (bench, iters) => options.ours(bench, iters) };
  try {
    const info = await plain.request<{ torch: string }>({ cmd: 'setup', threads: options.threads, ...options.setup });
    await tuned.request({ cmd: 'setup', threads: options.threads, ...options.setup });
    const load = loadNote();
    const medians = await interleave(options.benches, [ours, peerContender(plain), peerContender(tuned)], options.rounds);
    const entries = timeEntries(medians, options.benches, {
      ours: 'hipfrac',
      // The strongest peer first: the same malloc settings as the addon, then PyTorch as it comes.
      peers: ['PyTorch + tunables', 'PyTorch'],
      unit: options.unit,
      scale: options.scale,
      notes: (name) => `torch ${info.torch}, ${options.threads} thread(s), median of ${options.rounds} interleaved rounds × ${options.benches.find((b) => b.name === name)?.iters} ${options.per}`,
    });
    writeResults('engine', entries);
    const table = markdownTable(entries);
    console.log(table);
    console.log(`wrote ${writeDocSection(options.section, `${options.intro(machineDescription(), today(), load)}\n\n${table}`)}`);
  } finally {
    plain.close();
    tuned.close();
  }
}

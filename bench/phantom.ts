// Phantom throughput: wall time to generate N images at size² (default 1,000 at 1024²) with 2 worker threads,
// DICOM files written to a temporary folder. There is no peer. Writes bench/results/phantom.json and prints a
// Markdown line. Run: node dist/bench/phantom.js [--images 1000] [--size 1024] [--workers 2]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCohort, planCohort } from '../src/phantom/index.js';
import { loadNote, machineDescription, markdownTable, writeResults, type BenchEntry } from './lib/results.js';

const { values } = parseArgs({ options: { images: { type: 'string', default: '1000' }, size: { type: 'string', default: '1024' }, workers: { type: 'string', default: '2' }, seed: { type: 'string', default: '1' } } });
const IMAGES = Number(values.images);
const SIZE = Number(values.size);
const WORKERS = Number(values.workers);
const SEED = Number(values.seed);

// Enough patients for at least IMAGES images (patients have 1–3 each); planning is cheap.
let patients = Math.ceil(IMAGES / 2);
while (planCohort({ patients, seed: SEED, difficulty: 'standard', size: SIZE }).reduce((s, p) => s + p.images.length, 0) < IMAGES) patients += Math.max(1, Math.ceil(IMAGES / 50));

const out = mkdtempSync(join(tmpdir(), 'hipfrac-bench-phantom-'));
const loadBefore = loadNote();
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let written = 0;
try {
  const result = await generateCohort({ patients, seed: SEED, difficulty: 'standard', size: SIZE, out, workers: WORKERS });
  written = result.images.length;
} finally {
  rmSync(out, { recursive: true, force: true });
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const mainCpu = process.cpuUsage(cpu0);
const perThousand = (seconds / written) * 1000;
const entries: BenchEntry[] = [
  {
    benchmark: `phantom: ${written} images at ${SIZE}², ${WORKERS} workers (render + DICOM + labels)`,
    ours: seconds,
    peer: null,
    ratio: null,
    unit: 's (wall)',
    machine: machineDescription(),
    date: new Date().toISOString(),
    notes: `${(written / seconds).toFixed(2)} images/s, ${perThousand.toFixed(0)} s per 1,000 images (goal < 120 s); no peer; process CPU (all threads) ${((mainCpu.user + mainCpu.system) / 1e6).toFixed(1)} s; ${loadBefore} at start, ${loadNote()} at end`,
  },
];
writeResults('phantom', entries);
console.log(markdownTable(entries));

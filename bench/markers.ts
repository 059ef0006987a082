// The marker detector's cost per image (src/data/markers.ts), on real radiographs: its grey opening (a square
// erosion then dilation of radius 1/20 of the shorter side, the background its top-hat subtracts) against SciPy's
// ndimage.grey_opening on the same planes, interleaved round by round in one run, outputs checked equal; and the
// whole detector (opening, top-hat, components, ring contrast), which has no peer. The shortcut audit runs the
// detector once or twice per image and `--mask-markers` once per training image and epoch.
// Writes bench/results/markers.json and its section of docs/benchmarks.md.
// Run: node dist/bench/markers.js [--data runs/fracatlas/dataset] [--images 100] [--rounds 5]
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cachedPngPath, decodeGrey, detectMarkers, loadManifest } from '../src/data/index.js';
import { squareFilter } from '../src/data/markers.js';
import { interleave, loadNote, machineDescription, Peer, peerContender, ratioOf, REPO_ROOT, timeIt, today, writeDocSection, writeResults, type BenchEntry, type Contender } from './lib/results.js';

const { values } = parseArgs({ options: { data: { type: 'string', default: 'runs/fracatlas/dataset' }, images: { type: 'string', default: '100' }, rounds: { type: 'string', default: '5' } } });
const DATA = values.data as string;
const IMAGES = Number(values.images);
const ROUNDS = Number(values.rounds);
if (!existsSync(path.join(DATA, 'manifest.jsonl'))) {
  console.error(`bench/markers: no dataset at ${DATA}. Fix: import one first, e.g. node dist/src/cli/main.js import ../shared/datasets/fracatlas-nonhip --layout fracatlas --max-side 320 --out ${DATA}`);
  process.exit(2);
}

interface Plane {
  readonly values: Float32Array;
  readonly width: number;
  readonly height: number;
}

const radius = (p: Plane): number => Math.max(2, Math.round(Math.min(p.width, p.height) / 20));
const opening = (p: Plane): Float32Array => squareFilter(squareFilter(p.values, p.width, p.height, radius(p), false), p.width, p.height, radius(p), true);

const rows = (await loadManifest(DATA)).slice(0, IMAGES);
const planes: Plane[] = [];
for (const row of rows) {
  const px = await decodeGrey(cachedPngPath(DATA, row), { width: row.cacheWidth, height: row.cacheHeight }, 'squish', null);
  planes.push({ values: Float32Array.from(px, (v) => v / 65535), width: row.cacheWidth, height: row.cacheHeight });
}
const work = mkdtempSync(path.join(tmpdir(), 'hipfrac-bench-markers-'));
const peer = new Peer('SciPy grey_opening', process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3', [path.join(REPO_ROOT, 'bench', 'peers', 'scipy_opening.py')]);
try {
  const input = path.join(work, 'planes.bin');
  writeFileSync(input, Buffer.concat(planes.flatMap((p) => [Buffer.from(Int32Array.of(p.width, p.height).buffer), Buffer.from(p.values.buffer, p.values.byteOffset, p.values.byteLength)])));
  const { scipy } = await peer.request<{ scipy: string }>({ cmd: 'load', file: input });
  const dumped = path.join(work, 'openings.bin');
  await peer.request({ cmd: 'dump', file: dumped });
  const bytes = readFileSync(dumped);
  const theirs = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let offset = 0;
  let differing = 0;
  for (const p of planes) {
    const ours = opening(p);
    for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[offset + i]) differing++;
    offset += ours.length;
  }
  if (differing > 0) throw new Error(`bench/markers: the opening differs from SciPy's on ${differing} pixels.`);

  const ours: Contender = { label: 'hipfrac', run: async (_bench, iters) => timeIt(() => planes.forEach(opening), iters) };
  const medians = await interleave([{ name: 'opening', iters: 2 }], [ours, peerContender(peer)], ROUNDS);
  const detect = timeIt(() => planes.forEach((p) => detectMarkers(p.values, p.width, p.height)), 2);
  const m = medians.get('opening');
  const machine = machineDescription();
  const date = today();
  const pixels = planes.reduce((a, p) => a + p.width * p.height, 0) / planes.length;
  const longest = Math.max(...planes.map((p) => Math.max(p.width, p.height)));
  const about = `${planes.length} cached images of ${DATA} (mean ${Math.round(pixels)} pixels, longest side ${longest} px), single thread each, ${ROUNDS} interleaved rounds, medians; ${loadNote()}`;
  const entries: BenchEntry[] = [];
  for (const metric of ['wall', 'cpu'] as const) {
    const o = (m?.get('hipfrac')?.[metric] ?? Number.NaN) / planes.length;
    const t = (m?.get(peer.label)?.[metric] ?? Number.NaN) / planes.length;
    entries.push({ benchmark: `marker detector's grey opening per image (${metric})`, ours: o * 1e3, peer: t * 1e3, ratio: ratioOf(o, t, true), unit: 'ms', machine, date, notes: `peer: scipy.ndimage.grey_opening (SciPy ${scipy}, mode nearest); outputs equal on every pixel; ${about}` });
  }
  entries.push({ benchmark: 'marker detector per image (wall): opening, top-hat, components, ring contrast', ours: (detect.wall / planes.length) * 1e3, peer: null, ratio: null, unit: 'ms', machine, date, notes: `no peer; ${about}` });
  writeResults('markers', entries);
  const fmt = (x: number | null): string => (x === null ? '—' : x.toFixed(2));
  const table = ['| measure | hipfrac | SciPy | ratio (≥ 1: hipfrac faster) |', '| --- | ---: | ---: | ---: |', ...entries.map((e) => `| ${e.benchmark} | ${fmt(e.ours)} ms | ${e.peer === null ? '—' : `${fmt(e.peer)} ms`} | ${e.ratio === null ? '—' : e.ratio.toFixed(2)} |`)];
  writeDocSection('markers', [
    '## Marker detector',
    '',
    `\`node dist/bench/markers.js\` (\`bench/results/markers.json\`, ${machine}, ${date}): the burned-in marker detector of the shortcut audit and of \`--mask-markers\`, on ${about}. Its opening filters each line in constant time per pixel (van Herk / Gil–Werman); SciPy's \`grey_opening\` is the peer and gives the same value on every pixel.`,
    '',
    ...table,
  ].join('\n'));
  console.log(table.join('\n'));
} finally {
  peer.close();
  rmSync(work, { recursive: true, force: true });
}

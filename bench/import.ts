// Import throughput (files/s, DICOM in, 16-bit PNG at longest side 512 out) of `hipfrac import` against a
// pydicom + Pillow script and dcmtk's dcmj2pnm: same files, same machine, one run. Writes
// bench/results/import.json and prints a Markdown table. Run: node dist/bench/import.js [--files N]
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { importDataset } from '../src/data/index.js';

const run = promisify(execFile);
const { values } = parseArgs({ options: { files: { type: 'string', default: '48' }, keep: { type: 'boolean', default: false } } });
const FILES = Number(values.files);
const ROOT = resolve(process.cwd());
const FRACATLAS = join(ROOT, '..', 'shared', 'datasets', 'fracatlas-nonhip', 'images');
const work = mkdtempSync(join(tmpdir(), 'hipfrac-bench-import-'));

interface Result {
  benchmark: string;
  ours: number;
  peer: number;
  ratio: number;
  unit: string;
  machine: string;
  date: string;
}

function sourceImages(count: number): string[] {
  // The first decodable FracAtlas radiographs (a few files in the set are damaged on purpose).
  return readdirSync(FRACATLAS)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, count * 2)
    .map((f) => join(FRACATLAS, f));
}

/** 12-bit uncompressed DR-sized images (longest side 1920) built from FracAtlas radiographs by dump2dcm. */
async function makeDr12(dir: string, count: number): Promise<Map<string, [number, number]>> {
  mkdirSync(dir, { recursive: true });
  const sizes = new Map<string, [number, number]>();
  let made = 0;
  for (const src of sourceImages(count)) {
    if (made === count) break;
    let raw;
    try {
      raw = await sharp(src).greyscale().resize({ width: 1920, height: 1920, fit: 'inside' }).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    } catch {
      continue;
    }
    const px = new Uint16Array(raw.data.buffer, raw.data.byteOffset, raw.data.length >> 1);
    for (let i = 0; i < px.length; i++) px[i] = (px[i] as number) >> 4; // 12 bits stored
    const name = `dr${String(made).padStart(3, '0')}`;
    writeFileSync(join(dir, `${name}.raw`), px);
    writeFileSync(
      join(dir, `${name}.dump`),
      [
        '(0008,0016) UI [1.2.840.10008.5.1.4.1.1.1.1]',
        `(0008,0018) UI [1.2.826.0.1.3680043.2.1143.88.${made}]`,
        '(0008,0060) CS [DX]',
        `(0010,0020) LO [BENCH${made % 17}]`,
        '(0018,5101) CS [AP]',
        '(0028,0002) US 1',
        '(0028,0004) CS [MONOCHROME2]',
        `(0028,0010) US ${raw.info.height}`,
        `(0028,0011) US ${raw.info.width}`,
        '(0028,0100) US 16',
        '(0028,0101) US 12',
        '(0028,0102) US 11',
        '(0028,0103) US 0',
        '(0028,1050) DS [2048]',
        '(0028,1051) DS [4096]',
        `(7fe0,0010) OW =${join(dir, `${name}.raw`)}`,
      ].join('\n') + '\n',
    );
    execFileSync('dump2dcm', ['+te', '-g', join(dir, `${name}.dump`), join(dir, `${name}.dcm`)]);
    rmSync(join(dir, `${name}.raw`));
    rmSync(join(dir, `${name}.dump`));
    sizes.set(`${name}.dcm`, [raw.info.width, raw.info.height]);
    made++;
  }
  return sizes;
}

/** JPEG baseline DICOM as a CR/DX export often is: img2dcm wraps each FracAtlas JPEG without recompressing. */
async function makeJpeg(dir: string, count: number): Promise<Map<string, [number, number]>> {
  mkdirSync(dir, { recursive: true });
  const sizes = new Map<string, [number, number]>();
  let made = 0;
  for (const src of sourceImages(count)) {
    if (made === count) break;
    const name = `jp${String(made).padStart(3, '0')}.dcm`;
    try {
      const meta = await sharp(src).metadata();
      await sharp(src).stats(); // skips the damaged files
      execFileSync('img2dcm', ['-q', src, join(dir, name)]);
      sizes.set(name, [meta.width ?? 0, meta.height ?? 0]);
      made++;
    } catch {
      continue;
    }
  }
  return sizes;
}

interface Speed {
  /** Wall-clock throughput. */
  readonly filesPerSecond: number;
  /** Files per CPU-second of all the run's threads: independent of other load on the machine. */
  readonly filesPerCpuSecond: number;
}

async function timeOurs(dir: string, workers: number): Promise<Speed> {
  const out = join(work, `ours-${Math.random().toString(36).slice(2)}`);
  const start = process.hrtime.bigint();
  // process.cpuUsage counts every thread of the process, worker threads included.
  const cpu = process.cpuUsage();
  const report = await importDataset({ inputDir: dir, outDir: out, saltFile: join(work, 'salt'), workers });
  const used = process.cpuUsage(cpu);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (report.imported !== readdirSync(dir).length) throw new Error(`hipfrac imported ${report.imported} of ${readdirSync(dir).length}: ${JSON.stringify(report.failed)}`);
  return { filesPerSecond: report.imported / seconds, filesPerCpuSecond: report.imported / ((used.user + used.system) / 1e6) };
}

async function timePydicom(dir: string, processes: number): Promise<Speed> {
  const out = join(work, `pydicom-${processes}-${Math.random().toString(36).slice(2)}`);
  const { stdout } = await run('/usr/bin/python3', [join(ROOT, 'bench', 'peers', 'import_pydicom.py'), dir, out, String(processes)], { maxBuffer: 1 << 20 });
  const result = JSON.parse(stdout) as { files: number; seconds: number; cpu_seconds: number };
  return { filesPerSecond: result.files / result.seconds, filesPerCpuSecond: result.files / result.cpu_seconds };
}

/** dcmj2pnm once per file (how it is used), two at a time to use both cores, 16-bit PNG scaled to 512. */
async function timeDcmtk(dir: string, sizes: Map<string, [number, number]>, windowArgs: readonly string[]): Promise<number> {
  const out = join(work, `dcmtk-${Math.random().toString(36).slice(2)}`);
  mkdirSync(out);
  const files = [...sizes.keys()];
  const start = process.hrtime.bigint();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < files.length) {
      const file = files[next++] as string;
      const [w, h] = sizes.get(file) as [number, number];
      const scale = Math.max(w, h) > 512 ? (w >= h ? ['+Sxv', '512'] : ['+Syv', '512']) : [];
      await run('dcmj2pnm', [...windowArgs, ...scale, '+on2', join(dir, file), join(out, `${file}.png`)]);
    }
  };
  await Promise.all(cpus().map(() => lane()));
  return files.length / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function main(): Promise<void> {
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`;
  const date = new Date().toISOString().slice(0, 10);
  const sets: { name: string; dir: string; sizes: Map<string, [number, number]>; dcmtkWindow: readonly string[] }[] = [];
  const drDir = join(work, 'dr12');
  sets.push({ name: `12-bit DR, 1920 px, uncompressed (${FILES} files)`, dir: drDir, sizes: await makeDr12(drDir, FILES), dcmtkWindow: ['+Wi', '1'] });
  const jpDir = join(work, 'jpeg');
  sets.push({ name: `JPEG baseline, ≤512 px (${FILES * 2} files)`, dir: jpDir, sizes: await makeJpeg(jpDir, FILES * 2), dcmtkWindow: ['+Wm'] });

  const results: Result[] = [];
  for (const set of sets) {
    const ours = await timeOurs(set.dir, cpus().length);
    const oursOneWorker = await timeOurs(set.dir, 1);
    const py1 = await timePydicom(set.dir, 1);
    const py2 = await timePydicom(set.dir, cpus().length);
    const dcmtk = await timeDcmtk(set.dir, set.sizes, set.dcmtkWindow);
    for (const [peer, value] of [
      ['pydicom + Pillow, 1 process', py1.filesPerSecond],
      [`pydicom + Pillow, ${cpus().length} processes`, py2.filesPerSecond],
      [`dcmtk dcmj2pnm, ${cpus().length} at a time`, dcmtk],
    ] as const) {
      results.push({ benchmark: `import ${set.name}: hipfrac (${cpus().length} workers) vs ${peer}`, ours: round(ours.filesPerSecond), peer: round(value), ratio: round(ours.filesPerSecond / value), unit: 'files/s', machine, date });
    }
    // CPU efficiency, one worker against one pydicom process: what the machine's other load cannot skew.
    results.push({ benchmark: `import ${set.name}: CPU efficiency, hipfrac 1 worker vs pydicom + Pillow 1 process`, ours: round(oursOneWorker.filesPerCpuSecond), peer: round(py1.filesPerCpuSecond), ratio: round(oursOneWorker.filesPerCpuSecond / py1.filesPerCpuSecond), unit: 'files/CPU-s', machine, date });
  }
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'import.json'), `${JSON.stringify(results, null, 2)}\n`);
  const load = (await import('node:os')).loadavg()[0]?.toFixed(1) ?? '?';
  const lines = [`Load average at the end of the run: ${load} (other work on the machine lowers wall-clock ratios).`, '', '| benchmark | hipfrac | peer | ratio | unit |', '| --- | ---: | ---: | ---: | --- |', ...results.map((r) => `| ${r.benchmark} | ${r.ours} | ${r.peer} | ${r.ratio}× | ${r.unit} |`), '', `Machine: ${machine}; ${date}.`];
  console.log(lines.join('\n'));
  if (values.keep !== true) rmSync(work, { recursive: true, force: true });
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

main().catch((error: unknown) => {
  console.error(error);
  rmSync(work, { recursive: true, force: true });
  process.exitCode = 1;
});

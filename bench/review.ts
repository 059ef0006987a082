// Review UI benchmark: worklist page server time with 10,000 studies in the store (first page, a page deep in the
// keyset, filtered pages; app.inject, so routing, session check, query and JSON included), the worklist's time to
// first render in headless Chromium (navigation start → table in the DOM), and the viewer's click → full-resolution
// image on screen for a 2,000 × 2,500 16-bit radiograph (cold: decoded on the server on first open; warm: cached).
// Synthetic data: studies with stand-in instances for the worklist, gradient-and-noise DICOMs for the viewer.
// Figures, not thresholds. Usage: node dist/bench/review.js [--studies 10000] [--reps 30]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Writable } from 'node:stream';
import { chromium } from 'playwright-core';
import { writeDicom } from '../src/dicom/index.js';
import { buildHttpApp } from '../src/serve/http/index.js';
import { createServeLogger } from '../src/serve/log.js';
import { REVIEW_MIGRATIONS, ReviewRepository, buildReviewAssets, hashPassword, reviewPlugin } from '../src/serve/review/index.js';
import { openStore, type BlobStore, type SqliteStore } from '../src/serve/store/index.js';
import { loadNote, machineDescription, markdownTable, median, writeDocSection, writeResults, type BenchEntry } from './lib/results.js';

const { values } = parseArgs({ options: { studies: { type: 'string', default: '10000' }, reps: { type: 'string', default: '30' }, 'big-studies': { type: 'string', default: '3' } } });
const STUDIES = Number(values.studies);
const REPS = Number(values.reps);
const BIG = Number(values['big-studies']);
const WIDTH = 2000;
const HEIGHT = 2500;
const PASSWORD = 'benchmark password';

function addStudy(store: SqliteStore, uid: string, i: number, decision: string, probability: number, files: readonly { sop: string; sha256: string; file: string; bytes: number }[]): void {
  for (const f of files) {
    store.recordInstance({
      sopInstanceUid: f.sop, sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', studyInstanceUid: uid, seriesInstanceUid: `${uid}.1`, transferSyntaxUid: '1.2.840.10008.1.2.1',
      sha256: f.sha256, file: f.file, bytes: f.bytes, status: 'stored', reason: '', source: 'ae:BENCH',
      context: { studyInstanceUid: uid, patientId: `P${i}`, patientName: 'Bench^Patient', accessionNumber: `A${i}`, studyDate: '20260101' },
    });
  }
  for (const job of store.claimJobs(10)) store.recordResult(job.id, { sopInstanceUid: job.sopInstanceUid, decision, fractureProbability: probability, predicted: probability >= 0.5 ? 'fracture' : 'no-fracture', confidence: 0.9, level: '', reason: 'bench', heatmap: '' });
  store.recordStudyDecision(uid, { decision, reason: 'bench', fractureProbability: probability }, []);
}

/** A 2,000 × 2,500 12-bit radiograph stand-in: a smooth body-like gradient with noise, as MONOCHROME2 DICOM. */
async function bigDicom(blobs: BlobStore, seed: number): Promise<{ sop: string; sha256: string; file: string; bytes: number }> {
  const pixels = new Uint16Array(WIDTH * HEIGHT);
  let s = seed * 2654435761 >>> 0;
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      const body = Math.exp(-(((x - WIDTH / 2) / (WIDTH * 0.35)) ** 2)) * (0.6 + 0.4 * Math.sin(y / 180));
      pixels[y * WIDTH + x] = Math.min(4095, Math.round(300 + 3200 * body + (s >>> 24) * 2));
    }
  }
  const sop = `2.25.${9000 + seed}`;
  const bytes = writeDicom({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1', SOPInstanceUID: sop, Modality: 'DX', PatientID: `BIG${seed}`, ViewPosition: 'AP',
    Rows: HEIGHT, Columns: WIDTH, BitsAllocated: 16, BitsStored: 12, HighBit: 11, PixelRepresentation: 0, SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2', PixelData: [pixels.buffer], _vrMap: { PixelData: 'OW' },
  });
  const blob = await blobs.put(bytes);
  return { sop, ...blob };
}

const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-bench-review-'));
const loadBefore = loadNote();
const { store, blobs } = openStore(dir, { migrations: REVIEW_MIGRATIONS, minFreeBytes: 0 });
const entries: BenchEntry[] = [];
const machine = machineDescription();
const date = new Date().toISOString();
try {
  // Population (not timed): one writer, durability off for the set-up only.
  store.database.pragma('synchronous = OFF');
  const t0 = Date.now();
  for (let i = 0; i < STUDIES; i++) {
    const decision = i % 5 === 0 ? 'radiologist-review' : 'no-fracture';
    const files = [0, 1].map((k) => ({ sop: `2.25.1${i}.${k}`, sha256: '', file: '', bytes: 0 }));
    addStudy(store, `2.25.7${i}`, i, decision, ((i * 37) % 100) / 100, files);
  }
  for (let b = 0; b < BIG; b++) addStudy(store, `2.25.8${b}`, STUDIES + b, 'radiologist-review', 0.55, [await bigDicom(blobs, b)]);
  store.database.pragma('synchronous = FULL');
  console.log(`populated ${STUDIES + BIG} studies in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const repo = new ReviewRepository(store);
  repo.addUser('bench', 'radiologist', await hashPassword(PASSWORD));
  const session = repo.createSession(repo.userByName('bench')!.id);
  const assets = await buildReviewAssets(path.join(dir, 'ui'));
  const sink = new Writable({ write(_chunk, _enc, done) { done(); } });
  const app = await buildHttpApp({ store, logger: createServeLogger({ destination: sink }), health: () => ({ status: 'ok', version: 'bench', uptimeSeconds: 0, checks: {} }) }, [reviewPlugin({ store, blobs, assetsDir: assets })]);
  try {
    // ---------------------------------------------------------------- server time per page
    const cookie = `hf_session=${session.id}`;
    const page = async (query: string): Promise<{ ms: number; next: string | null; rows: number }> => {
      const t = process.hrtime.bigint();
      const res = await app.inject({ method: 'GET', url: `/review/api/worklist?${query}`, headers: { cookie } });
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (res.statusCode !== 200) throw new Error(`worklist ${query}: ${res.statusCode} ${res.body}`);
      const body = res.json() as { next: string | null; rows: unknown[] };
      return { ms, next: body.next, rows: body.rows.length };
    };
    let cursor: string | null = null;
    let depth = 0;
    for (let i = 0; i < 100; i++) {
      const next: string | null = (await page(`limit=50${cursor === null ? '' : `&after=${cursor}`}`)).next;
      if (next === null) break;
      cursor = next;
      depth = i + 1;
    }
    const cases: [string, string][] = [
      ['first page (50 rows)', 'limit=50'],
      ...(cursor === null ? [] : [[`page ${depth + 1} (keyset cursor, 50 rows)`, `limit=50&after=${cursor}`] as [string, string]]),
      ['filtered: needs review, state new', 'limit=50&queue=review&state=new'],
      ['filtered: decision no-fracture', 'limit=50&decision=no-fracture'],
    ];
    for (const [label, query] of cases) {
      await page(query);
      const times: number[] = [];
      for (let r = 0; r < REPS; r++) times.push((await page(query)).ms);
      entries.push({ benchmark: `review worklist, ${STUDIES.toLocaleString('en')} studies: ${label}`, ours: median(times), peer: null, ratio: null, unit: 'ms (server, median)', machine, date, notes: `app.inject, ${REPS} requests; min ${Math.min(...times).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms` });
    }

    // ---------------------------------------------------------------- Chromium
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'], timeout: 60_000 });
    try {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      const p = await context.newPage();
      p.setDefaultTimeout(60_000);
      await p.goto(`${base}/review/`);
      await p.fill('#user', 'bench');
      await p.fill('#password', PASSWORD);
      await p.press('#password', 'Enter');
      await p.waitForSelector('#worklist tbody tr');
      const renders: number[] = [];
      for (let r = 0; r < 6; r++) {
        await p.reload();
        await p.waitForSelector('#worklist tbody tr');
        const at = await p.evaluate(() => performance.getEntriesByName('hf-worklist-rendered')[0]?.startTime ?? Number.NaN);
        if (r > 0) renders.push(at);
      }
      entries.push({ benchmark: `review worklist, ${STUDIES.toLocaleString('en')} studies: first render in Chromium`, ours: median(renders), peer: null, ratio: null, unit: 'ms (median)', machine, date, notes: `navigation start → 50-row table in the DOM (app.js, /api/me, /api/worklist), reloads 2–6 of 6; min ${Math.min(...renders).toFixed(0)} ms` });

      const openCase = async (key: string): Promise<number> => {
        await p.evaluate(() => { location.hash = '#/worklist'; });
        await p.waitForSelector(`#worklist a[href="#/case/${key}"]`);
        await p.evaluate((k) => {
          (window as unknown as { __t0: number }).__t0 = performance.now();
          (document.querySelector(`#worklist a[href="#/case/${k}"]`) as HTMLElement).click();
        }, key);
        await p.waitForFunction(() => document.body.dataset['imagesShown'] === '1');
        return p.evaluate(() => {
          const marks = performance.getEntriesByName('hf-image-shown-0');
          return (marks[marks.length - 1] as PerformanceEntry).startTime - (window as unknown as { __t0: number }).__t0;
        });
      };
      const keys = Array.from({ length: BIG }, (_, b) => store.studyKey(`2.25.8${b}`));
      const cold: number[] = [];
      const warm: number[] = [];
      for (const key of keys) cold.push(await openCase(key));
      for (const key of keys) warm.push(await openCase(key));
      entries.push({ benchmark: `review viewer: click → ${WIDTH} × ${HEIGHT} 16-bit image on screen, first open`, ours: median(cold), peer: null, ratio: null, unit: 'ms (median)', machine, date, notes: `${BIG} studies; server decodes the DICOM (explicit VR LE, 10 MB of pixels), gzips level 1, browser maps the window on a canvas; runs ${cold.map((x) => x.toFixed(0)).join(', ')} ms` });
      entries.push({ benchmark: `review viewer: click → ${WIDTH} × ${HEIGHT} 16-bit image on screen, reopened`, ours: median(warm), peer: null, ratio: null, unit: 'ms (median)', machine, date, notes: `decoded image from the server's LRU; runs ${warm.map((x) => x.toFixed(0)).join(', ')} ms; ${loadBefore} at start, ${loadNote()} at end` });
    } finally {
      await browser.close();
    }
  } finally {
    await app.close();
  }
} finally {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}
writeResults('review', entries);
const table = markdownTable(entries);
writeDocSection('review', `## Review UI\n\nMeasured by \`node dist/bench/review.js\` (results in \`bench/results/review.json\`) on synthetic data: ${STUDIES.toLocaleString('en')} studies in the node's SQLite store (two stand-in instances each) for the worklist, and ${BIG} generated ${WIDTH} × ${HEIGHT} 12-bit DICOM radiographs for the viewer; headless Chromium on the same machine (${loadBefore} at the start of the run; the medians include waiting for CPU when the load exceeds the cores). Figures, not thresholds.\n\n${table}`);
console.log(table);

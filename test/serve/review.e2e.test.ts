// The review loop end to end through a running `hipfrac serve` process: phantom studies arrive by C-STORE
// (dcmtk storescu), the node decides them with its own model and policy (a cut-off chosen so that some studies go to
// review and some are auto-reported), a radiologist made with `hipfrac user add` signs in with Chromium, finds the
// node's review cases at the top of the worklist, opens one (the stored image and the node's heatmap load), gives
// a verdict by keyboard; the review API and the store show it, and `hipfrac feedback export` writes it without
// patient identifiers. Loopback only; every wait bounded; the node is stopped on every path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Response } from 'playwright-core';
import { parseLabelTable } from '../../src/data/index.js';
import { REVIEW_MIGRATIONS, ReviewRepository, buildReviewAssets } from '../../src/serve/review/index.js';
import { openStore } from '../../src/serve/store/index.js';
import { givenCutoffPolicy, policyToJson } from '../../src/triage/index.js';
import { needs } from '../helpers/references.js';
import { makeFixture, runTool, waitFor } from './fixtures.js';
import { imagesShown, meanGrey, redness, rednessChanged } from './reviewPage.js';

const CLI = path.resolve('dist/src/cli/main.js');
const PASSWORD = 'correct horse battery';
const REVIEW_DECISIONS = new Set(['radiologist-review', 'not-processed']);

interface Prediction { readonly file: string; readonly fractureProbability: number; readonly predicted: string; readonly confidence: number }
interface StudySummary { readonly studyInstanceUid: string; readonly studyKey: string; readonly decision: string | null }
interface StudyDetail extends StudySummary { readonly images: { readonly sopInstanceUid: string; readonly decision: string | null; readonly heatmap: string | null }[] }

/** One tag's value per file, from dcmdump. */
async function tagOf(file: string, keyword: string): Promise<string> {
  const r = await runTool('dcmdump', ['+P', keyword, file]);
  return /\[([^\]]*)\]/.exec(r.stdout)?.[1] ?? '';
}

/**
 * The confidence a study needs to be auto-reported under a cut-off, by the node's study rule
 * (src/serve/results/decideStudy.ts): the most suspicious image decides; a fracture call needs that image to be
 * sure, a no-fracture call needs every image to be sure.
 */
function neededConfidence(images: readonly Prediction[]): number {
  const top = images.reduce((a, b) => (b.fractureProbability > a.fractureProbability ? b : a));
  return top.predicted === 'fracture' ? top.confidence : Math.min(...images.map((i) => i.confidence));
}

/** Starts `hipfrac serve` as a child process; resolves with its ports once it says it listens. */
function startServe(args: readonly string[], logs: string[]): Promise<{ child: ChildProcess; dicomPort: number; httpPort: number }> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HIPFRAC_DEBUG: '0' } });
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`hipfrac serve did not start in 120 s: ${stderr.slice(-2000)}`)), 120_000);
    child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      logs.push(d.toString());
      const m = /on 127\.0\.0\.1:(\d+) \(DICOM\), http:\/\/127\.0\.0\.1:(\d+) \(HTTP\)/.exec(stderr);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, dicomPort: Number(m[1]), httpPort: Number(m[2]) });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hipfrac serve exited with ${code} before it listened: ${stderr.slice(-2000)}`));
    });
  });
}

/** SIGTERM (the node closes its workers and store), SIGKILL if it has not ended within 20 s. */
async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const ended = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await ended;
  clearTimeout(timer);
}

test('review end to end: C-STORE to a running hipfrac serve, the node\'s review cases read in Chromium, the verdict exported', needs('chromium', 'dcmtk'), async (t) => {
  const fx = await makeFixture(4, 5);
  t.after(() => fx.cleanup());
  const data = path.join(fx.dir, 'data');

  // The node's own predictions decide which cut-off splits the studies: predict once, then put the cut-off in the
  // widest gap between the studies' needed confidences (so float rounding between engines cannot move a study).
  // predict reads one flat folder: the cohort's files linked into one.
  const flat = path.join(fx.dir, 'flat');
  mkdirSync(flat);
  const studyOf = new Map<string, string>();
  for (const [i, f] of fx.files.entries()) {
    const link = path.join(flat, `${i}.dcm`);
    symlinkSync(f, link);
    studyOf.set(link, await tagOf(f, 'StudyInstanceUID'));
  }
  const predicted = spawnSync(process.execPath, [CLI, 'predict', flat, '--model', fx.modelDir, '--no-heatmaps', '--format', 'json', '--out', path.join(fx.dir, 'predictions')], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(predicted.status, 0, predicted.stderr);
  const predictions = (JSON.parse(readFileSync(path.join(fx.dir, 'predictions', 'predictions.json'), 'utf8')) as { predictions: Prediction[] }).predictions;
  const byStudy = new Map<string, Prediction[]>();
  for (const p of predictions) {
    const uid = studyOf.get(path.resolve(flat, p.file));
    assert.ok(uid !== undefined, `a study for ${p.file}`);
    byStudy.set(uid, [...(byStudy.get(uid) ?? []), p]);
  }
  const needed = [...byStudy.entries()].map(([uid, images]) => ({ uid, needed: neededConfidence(images) })).sort((a, b) => a.needed - b.needed);
  assert.ok(needed.length >= 2, 'at least two studies');
  let gap = 0;
  let split = 0;
  for (let i = 0; i + 1 < needed.length; i++) {
    const g = (needed[i + 1]?.needed as number) - (needed[i]?.needed as number);
    if (g > gap) [gap, split] = [g, i];
  }
  assert.ok(gap > 1e-3, `the tiny model's study confidences are too close to split (${needed.map((n) => n.needed.toFixed(5)).join(', ')})`);
  const cutoff = ((needed[split]?.needed as number) + (needed[split + 1]?.needed as number)) / 2;
  const expectReview = new Set(needed.slice(0, split + 1).map((n) => n.uid));
  const cardFile = path.join(fx.modelDir, 'model.json');
  writeFileSync(cardFile, JSON.stringify({ ...(JSON.parse(readFileSync(cardFile, 'utf8')) as object), threshold: policyToJson(givenCutoffPolicy(cutoff)) }, null, 2));

  // The node, as a user starts it (after the set-up's build of the review app into dist/ui, which it serves).
  await buildReviewAssets();
  const config = path.join(fx.dir, 'serve.json');
  writeFileSync(config, JSON.stringify({ studyQuietSeconds: 1, minFreeBytes: 0 }));
  const logs: string[] = [];
  const node = await startServe(['--model', fx.modelDir, '--data', data, '--config', config, '--dicom-port', '0', '--http-port', '0', '--host', '127.0.0.1'], logs);
  t.after(() => stopServe(node.child));
  const base = `http://127.0.0.1:${node.httpPort}`;

  const cli = async (args: readonly string[], input = ''): Promise<string> => {
    const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `hipfrac ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const token = /hft_\S+/.exec(await cli(['token', 'create', '--data', data, '--name', 'e2e', '--scope', 'read']))?.[0] as string;
  assert.ok(token !== undefined, 'a read token');
  const api = async <T>(url: string): Promise<T> => {
    const r = await fetch(`${base}${url}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, url);
    return (await r.json()) as T;
  };

  // The studies arrive over DICOM (the phantom writes uncompressed and RLE files: -xr proposes both) and the node decides them.
  const sent = await runTool('storescu', ['-xr', '-aet', 'MODALITY', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort), ...fx.files], 180_000);
  assert.equal(sent.status, 0, sent.stderr);
  const decided = await waitFor('the node to decide every study', async () => {
    const list = await api<{ total: number; studies: StudySummary[] }>('/v1/studies?pageSize=100');
    return list.total === byStudy.size && list.studies.every((s) => s.decision !== null) ? list.studies : undefined;
  }, 240_000);
  const decisionOf = new Map(decided.map((s) => [s.studyInstanceUid, s.decision as string]));
  for (const s of decided) assert.equal(REVIEW_DECISIONS.has(s.decision as string), expectReview.has(s.studyInstanceUid), `study ${s.studyKey}: ${s.decision}`);
  const reviewStudies = decided.filter((s) => REVIEW_DECISIONS.has(s.decision as string));
  assert.ok(reviewStudies.length >= 1 && reviewStudies.length < decided.length, 'some studies go to review, some are auto-reported');

  // A radiologist, made with the CLI while the node runs.
  assert.match(await cli(['user', 'add', 'rad1', '--role', 'radiologist', '--data', data], `${PASSWORD}\n`), /Added rad1 \(radiologist\)/);

  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'], timeout: 60_000 });
  t.after(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.setDefaultTimeout(60_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${base}/review/`);
  await page.fill('#user', 'rad1');
  await page.fill('#password', PASSWORD);
  await page.press('#password', 'Enter');
  await page.waitForSelector('#worklist tbody tr');

  // The worklist: exactly the node's review cases are marked and come first.
  const rows = await page.$$eval('#worklist tbody tr', (trs) => trs.map((tr) => ({ key: tr.getAttribute('data-key') ?? '', review: tr.classList.contains('needs-review') })));
  assert.equal(rows.length, decided.length);
  const keyToUid = new Map(decided.map((s) => [s.studyKey, s.studyInstanceUid]));
  for (const r of rows) assert.equal(r.review, REVIEW_DECISIONS.has(decisionOf.get(keyToUid.get(r.key) as string) as string), `worklist row ${r.key}`);
  assert.deepEqual(rows.map((r) => r.review), [...rows.filter((r) => r.review), ...rows.filter((r) => !r.review)].map((r) => r.review), 'review cases first');

  // Open the first review case: its image and the node's heatmap load.
  const target = reviewStudies.find((s) => s.studyKey === rows[0]?.key) as StudySummary;
  assert.ok(target !== undefined);
  const detail = await api<StudyDetail>(`/v1/studies/${encodeURIComponent(target.studyInstanceUid)}`);
  const heatIndex = detail.images.findIndex((i) => i.heatmap !== null);
  assert.ok(heatIndex >= 0, 'the node made a heatmap for the review case');
  const pixels = page.waitForResponse((r: Response) => r.url().endsWith(`/cases/${target.studyKey}/images/${heatIndex}/pixels`));
  const heatmap = page.waitForResponse((r: Response) => r.url().endsWith(`/cases/${target.studyKey}/images/${heatIndex}/heatmap`));
  await page.click(`#worklist tr[data-key="${target.studyKey}"] a`);
  const [pixelResponse, heatResponse] = await Promise.all([pixels, heatmap]);
  assert.equal(pixelResponse.status(), 200);
  const width = Number(pixelResponse.headers()['x-image-width']);
  const height = Number(pixelResponse.headers()['x-image-height']);
  assert.ok(width > 0 && height > 0);
  const pixelBytes = await pixelResponse.body();
  assert.ok(pixelBytes.length >= width * height * 2, 'full-resolution 16-bit pixels');
  assert.ok(pixelBytes.some((b) => b !== 0), 'not a blank image');
  assert.equal(heatResponse.status(), 200);
  assert.match(heatResponse.headers()['content-type'] ?? '', /image\/png/);
  const heatBytes = await heatResponse.body();
  assert.ok(heatBytes.length > 0 && heatBytes.subarray(1, 4).toString('latin1') === 'PNG');
  assert.equal(heatBytes[25], 6, 'an RGBA layer (PNG colour type 6), transparent where the model did not look');
  const layers = readdirSync(path.join(data, 'heatmaps')).filter((f) => f.endsWith('.layer.png')).map((f) => readFileSync(path.join(data, 'heatmaps', f)));
  assert.ok(layers.some((l) => l.equals(heatBytes)), 'the heatmap layer the node produced');
  const overlay = await fetch(`${base}${detail.images[heatIndex]?.heatmap as string}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(overlay.status, 200, 'the API still links the burned-in overlay');
  await imagesShown(page);
  assert.equal(await page.textContent('#decision'), 'Needs radiologist review');
  const canvas = `canvas[data-image="${heatIndex}"]`;
  assert.ok(await meanGrey(page, canvas) > 0, 'the radiograph is drawn');
  const plain = await redness(page, canvas);
  await page.keyboard.press('h');
  assert.equal(await page.getAttribute('#toggle-heatmap', 'aria-pressed'), 'true');
  await rednessChanged(page, canvas, plain);

  // A verdict by keyboard.
  await page.fill('#comment', 'e2e: cortical break');
  await page.press('#comment', 'Escape');
  await page.keyboard.press('f');
  await page.waitForFunction(() => /Saved: fracture/.test(document.getElementById('verdict-status')?.textContent ?? ''));
  const viaApi = await page.evaluate(async (key) => (await (await fetch(`/review/api/cases/${key}`)).json()) as { verdicts: { reader: string; verdict: string; comment: string }[]; case: { state: string } }, target.studyKey);
  assert.deepEqual(viaApi.verdicts.map((v) => [v.reader, v.verdict, v.comment]), [['rad1', 'fracture', 'e2e: cortical break']]);
  assert.equal(viaApi.case.state, 'read');
  assert.deepEqual(pageErrors, []);

  // The export, written while the node runs: the verdict as a label, no patient identifiers anywhere.
  const out = path.join(fx.dir, 'feedback');
  const exported = await cli(['feedback', 'export', '--data', data, '--out', out, '--salt-file', path.join(fx.dir, 'salt')]);
  assert.match(exported, /Exported 1 studies \(1 fracture, 0 no fracture\)/);
  const table = parseLabelTable(readFileSync(path.join(out, 'labels.csv'), 'utf8'), 'labels.csv', { join: 'path' });
  assert.deepEqual(table.rows.map((r) => [r.fields['study_key'], r.label, r.fields['verdict'], r.fields['readers'], r.fields['model_decision']]),
    detail.images.map(() => [target.studyKey, 1, 'fracture', 'rad1', 'radiologist-review']));
  const accessions = (await Promise.all(fx.files.map((f) => tagOf(f, 'AccessionNumber')))).filter((a) => a !== '');
  const identifiers = [...fx.patientNames, ...fx.patientNames.map((n) => n.split('^')[0] as string), ...fx.patientIds, ...accessions, target.studyInstanceUid];
  const exportedFiles = readdirSync(out, { recursive: true, encoding: 'utf8' }).map((f) => path.join(out, f));
  assert.ok(exportedFiles.some((f) => f.endsWith('.dcm')), 'the images are exported');
  for (const f of exportedFiles) {
    if (!f.endsWith('.dcm') && !f.endsWith('.csv') && !f.endsWith('.json')) continue;
    const bytes = readFileSync(f);
    for (const id of identifiers) assert.equal(bytes.includes(Buffer.from(id)), false, `${path.basename(f)} carries ${id}`);
  }
  for (const id of [...fx.patientNames, ...fx.patientIds]) assert.equal(logs.join('').includes(id), false, `the node's log carries ${id}`);

  // The store, once the node has stopped, holds the verdict and the audit trail.
  await stopServe(node.child);
  const { store } = openStore(data, { migrations: REVIEW_MIGRATIONS });
  try {
    const repo = new ReviewRepository(store);
    assert.deepEqual(repo.verdictsOf(target.studyInstanceUid).map((v) => [v.userName, v.verdict, v.version]), [['rad1', 'fracture', 1]]);
    const audit = store.auditLog(1000);
    assert.ok(audit.some((a) => a.actor === 'user:rad1' && a.action === 'review.verdict' && a.studyKey === target.studyKey));
    assert.ok(audit.some((a) => a.actor === 'ae:MODALITY' && a.action === 'receive'));
  } finally {
    store.close();
  }
});

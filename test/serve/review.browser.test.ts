// The review app in real Chromium (headless, playwright-core): sign in, the worklist, a review case at full
// resolution, heatmap toggle, window/level by drag, a verdict by keyboard with an XSS payload shown as text,
// the worklist updating live, a second reader, the dashboard, sign-out; a viewer cannot give verdicts; a change
// without CSRF token is refused; every control is reachable by keyboard and every input has a label; the export
// reproduces the verdicts. HIPFRAC_SCREENSHOTS=1 saves the screenshots in docs/images/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseLabelTable } from '../../src/data/index.js';
import { buildReviewAssets, exportFeedback } from '../../src/serve/review/index.js';
import { needs } from '../helpers/references.js';
import { addStudy, PASSWORD, phantomDicoms, reviewFixture } from './reviewFixture.js';
import { imagesShown, magenta, meanGrey, redness, rednessChanged } from './reviewPage.js';

const SHOTS = process.env['HIPFRAC_SCREENSHOTS'] === '1' ? path.resolve('docs/images') : null;

async function shot(page: Page, name: string): Promise<void> {
  if (SHOTS === null) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name) });
}

async function signIn(page: Page, base: string, name: string): Promise<void> {
  await page.goto(`${base}/review/`);
  await page.fill('#user', name);
  await page.fill('#password', PASSWORD);
  await page.press('#password', 'Enter');
  await page.waitForSelector('#worklist tbody tr');
}

/** Tabs through the page and returns the elements never focused among those a keyboard user must reach. */
async function unreachable(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const wanted = [...document.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input, select, textarea, canvas[tabindex]')].filter((e) => e.offsetParent !== null);
    const seen = new Set<Element>();
    (document.activeElement as HTMLElement | null)?.blur();
    document.body.focus();
    // Walk the tab order as the browser computes it: elements with tabindex >= 0 in document order (none use > 0).
    const order = [...document.querySelectorAll<HTMLElement>('*')].filter((e) => e.tabIndex >= 0 && !(e as HTMLButtonElement).disabled && e.offsetParent !== null);
    for (const e of order) {
      e.focus();
      if (document.activeElement === e) seen.add(e);
    }
    return wanted.filter((e) => !seen.has(e)).map((e) => `${e.tagName.toLowerCase()}#${e.id}`);
  });
}

async function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate(() => [...document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>('input, select, textarea')]
    .filter((e) => (e.labels?.length ?? 0) === 0 && (e.getAttribute('aria-label') ?? '') === '')
    .map((e) => `${e.tagName.toLowerCase()}#${e.id}`));
}

test('review app in Chromium: sign-in to sign-out, keyboard verdicts, roles, CSRF, XSS, accessibility, export', needs('chromium'), async (t) => {
  const f = await reviewFixture({ size: 512 });
  const assets = await buildReviewAssets(path.join(f.dir, 'ui'));
  const app = await f.app({ assetsDir: assets });
  t.after(async () => {
    await app.close();
    f.close();
  });
  await Promise.all([f.addUser('rad1', 'radiologist'), f.addUser('rad2', 'radiologist'), f.addUser('view1', 'viewer'), f.addUser('adm', 'admin')]);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'], timeout: 60_000 });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(45_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  // Sign in; the worklist lists review cases first.
  await signIn(page, base, 'rad1');
  const keys = await page.$$eval('#worklist tbody tr', (rows) => rows.map((r) => r.getAttribute('data-key')));
  assert.deepEqual(keys.slice(0, 2).sort(), [f.studies[0]!.studyKey, f.studies[1]!.studyKey].sort());
  assert.match(await page.textContent('#worklist') ?? '', /ACC100/, 'radiologists see accession numbers');
  assert.deepEqual(await unlabelled(page), []);
  assert.deepEqual(await unreachable(page), []);
  await shot(page, 'review-worklist.png');

  // Open the first review case by keyboard: both views at full resolution.
  const reviewKey = keys[0] as string;
  await page.focus(`#worklist tr[data-key="${reviewKey}"] a`);
  await page.keyboard.press('Enter');
  await imagesShown(page);
  assert.match(await page.textContent('figure.pane figcaption') ?? '', /512 × 512/, 'full resolution');
  assert.deepEqual(await unlabelled(page), []);
  assert.deepEqual(await unreachable(page), []);
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await shot(page, 'review-viewer.png');

  // H toggles the heatmap: its red shows on the canvas.
  const canvas = 'canvas[data-image="0"]';
  const plain = await redness(page, canvas);
  await page.keyboard.press('h');
  assert.equal(await page.getAttribute('#toggle-heatmap', 'aria-pressed'), 'true');
  await rednessChanged(page, canvas, plain);
  assert.ok(await redness(page, canvas) > plain);
  // With it, the box head's fracture box in magenta, and the caption says so.
  assert.match(await page.textContent('figure.pane figcaption') ?? '', /1 predicted fracture box \(magenta\)/);
  assert.ok(await magenta(page, canvas) > 0, 'the box is drawn');
  await shot(page, 'review-viewer-heatmap.png');
  await page.keyboard.press('h');
  assert.equal(await page.getAttribute('#toggle-heatmap', 'aria-pressed'), 'false');

  // Window/level by drag: the window changes and the image with it.
  const windowBefore = await page.getAttribute('figure.pane figcaption', 'data-window');
  const greyBefore = await meanGrey(page, canvas);
  const box = (await page.$(canvas))!;
  const r = (await box.boundingBox())!;
  await page.mouse.move(r.x + r.width / 2, r.y + r.height / 2);
  await page.mouse.down();
  await page.mouse.move(r.x + r.width / 2 + 120, r.y + r.height / 2 + 80, { steps: 6 });
  await page.mouse.up();
  await page.waitForFunction((before) => document.querySelector('figure.pane figcaption')?.getAttribute('data-window') !== before, windowBefore);
  assert.notEqual(await meanGrey(page, canvas), greyBefore);
  // I inverts; a preset by key restores the default window; wheel zooms.
  const greyWindowed = await meanGrey(page, canvas);
  await page.keyboard.press('i');
  assert.equal(await page.getAttribute('#toggle-invert', 'aria-pressed'), 'true');
  await page.waitForFunction(() => /inverted/.test(document.querySelector('figure.pane figcaption')?.textContent ?? ''));
  assert.notEqual(await meanGrey(page, canvas), greyWindowed);
  await page.keyboard.press('i');
  await page.keyboard.press('1');
  await page.waitForFunction((before) => document.querySelector('figure.pane figcaption')?.getAttribute('data-window') === before, windowBefore);

  // A verdict by keyboard with an XSS payload as comment: saved, and shown as text.
  const xss = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
  await page.fill('#comment', xss);
  await page.press('#comment', 'Escape');
  await page.keyboard.press('f');
  await page.waitForFunction(() => /Saved: fracture/.test(document.getElementById('verdict-status')?.textContent ?? ''));
  assert.equal(await page.$eval('#verdicts blockquote.comment', (e) => e.textContent), xss);
  assert.equal(await page.$$eval('#verdicts img, #verdicts script', (e) => e.length), 0);
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  const reviewUid = f.studies.find((s) => s.studyKey === reviewKey)!.studyInstanceUid;
  assert.deepEqual(f.repo.verdictsOf(reviewUid).map((v) => [v.userName, v.verdict, v.comment]), [['rad1', 'fracture', xss]]);

  // Back on the worklist the case is read; a new study arriving shows up live (server-sent events).
  await page.keyboard.press('Escape');
  await page.waitForSelector(`#worklist tr[data-key="${reviewKey}"][data-state="read"]`);
  const arriving = await addStudy(f.store, f.blobs, { uid: '1.2.826.0.1.3680043.10.1.77', accession: 'ACC7777', decision: 'radiologist-review', probability: 0.5, dicoms: phantomDicoms(1, 128, 11)[0]! });
  await page.waitForSelector(`#worklist tr[data-key="${arriving.studyKey}"]`);

  // A change without the CSRF token is refused.
  const noCsrf = await page.evaluate(async (key) => (await fetch(`/review/api/cases/${key}/verdicts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"verdict":"no-fracture"}' })).status, reviewKey);
  assert.equal(noCsrf, 403);
  assert.equal(f.repo.verdictsOf(reviewUid).length, 1);

  // The dashboard.
  await page.click('nav a[href="#/dashboard"]');
  await page.waitForSelector('#agreement');
  assert.deepEqual(await unlabelled(page), []);

  // Sign out: the session is gone.
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');
  assert.equal(await page.evaluate(async () => (await fetch('/review/api/me')).status), 401);

  // A second radiologist reads the same case: the first verdict is shown, both are kept.
  await signIn(page, base, 'rad2');
  await page.goto(`${base}/review/#/case/${reviewKey}`);
  await imagesShown(page);
  await page.keyboard.press('f');
  await page.waitForFunction(() => /Also read by rad1: fracture/.test(document.getElementById('verdict-status')?.textContent ?? ''));
  assert.equal(await page.$$eval('#verdicts li', (e) => e.length), 2);
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');

  // A viewer sees no identifiers and cannot give verdicts, by button or key.
  await signIn(page, base, 'view1');
  assert.doesNotMatch(await page.textContent('#worklist') ?? '', /ACC\d/);
  await page.goto(`${base}/review/#/case/${keys[1] as string}`);
  await imagesShown(page);
  assert.equal(await page.$eval('#verdict-fracture', (b) => (b as HTMLButtonElement).disabled), true);
  await page.keyboard.press('n');
  await page.waitForFunction(() => /cannot give verdicts/.test(document.getElementById('verdict-status')?.textContent ?? ''));
  assert.equal(f.repo.reviewedCases().length, 1, 'only the one case read by the radiologists');
  // Arrow keys move through the worklist order.
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction((k) => location.hash.startsWith('#/case/') && location.hash !== `#/case/${k}`, keys[1] as string);
  await imagesShown(page);
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction((k) => location.hash === `#/case/${k}`, keys[1] as string);

  // The export reproduces the verdicts.
  const out = path.join(f.dir, 'export');
  const report = await exportFeedback({ store: f.store, blobs: f.blobs, outDir: out, saltFile: path.join(f.dir, 'salt') });
  assert.equal(report.studies, 1);
  const table = parseLabelTable(readFileSync(path.join(out, 'labels.csv'), 'utf8'), 'labels.csv', { join: 'path' });
  assert.deepEqual(table.rows.map((row) => [row.fields['study_key'], row.label, row.fields['readers']]), f.store.instancesOfStudy(reviewUid).map(() => [reviewKey, 1, 'rad1 rad2']));

  // The administrator's dashboard after more reads: agreement with intervals, disagreements, the audit setting.
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');
  const rad2 = f.repo.userByName('rad2')!;
  const calls: [number, 'fracture' | 'no-fracture'][] = [[0, 'fracture'], [1, 'no-fracture'], [2, 'fracture'], [3, 'no-fracture']];
  for (const [i, verdict] of calls) {
    const s = f.studies[i]!;
    if (s.studyKey !== reviewKey) f.repo.addVerdict(s.studyInstanceUid, rad2, { verdict });
  }
  f.repo.addVerdict(arriving.studyInstanceUid, rad2, { verdict: 'no-fracture' });
  await signIn(page, base, 'adm');
  await page.click('nav a[href="#/dashboard"]');
  await page.waitForSelector('#audit-form');
  assert.deepEqual(await unlabelled(page), []);
  assert.deepEqual(await unreachable(page), []);
  await page.fill('#audit-percent', '5');
  await page.click('#audit-form button[type="submit"]');
  await page.waitForFunction(() => /Saved: 5/.test(document.getElementById('audit-status')?.textContent ?? ''));
  assert.equal(f.repo.auditPercent(), 5);
  await page.click('nav a[href="#/worklist"]');
  await page.click('nav a[href="#/dashboard"]');
  await page.waitForSelector('#agreement');
  assert.match(await page.textContent('#agreement') ?? '', /Sensitivity/);
  await shot(page, 'review-dashboard.png');
  assert.deepEqual(pageErrors, []);
});

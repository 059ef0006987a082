// The review UI's server side through app.inject: sign-in with CSRF and lock-out, expired sessions, roles,
// the worklist's order and keyset pages, identifiers by role, versioned verdicts from two readers, HTML kept as
// text, malformed and oversized requests, blinded audit cases, the dashboard, the audit log, SSO header mode,
// and the feedback export that `hipfrac import` reads back with the same labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseLabelTable } from '../../src/data/index.js';
import { exportFeedback, type ReviewPluginOptions } from '../../src/serve/review/index.js';
import { PASSWORD, reviewFixture, type ReviewFixture } from './reviewFixture.js';

interface Signed { readonly cookie: string; readonly csrf: string }

function cookieOf(setCookie: string | string[] | undefined, name: string): string {
  const all = Array.isArray(setCookie) ? setCookie : setCookie === undefined ? [] : [setCookie];
  const found = all.find((c) => c.startsWith(`${name}=`));
  assert.ok(found !== undefined, `a ${name} cookie is set`);
  return found.split(';')[0] as string;
}

async function signIn(app: FastifyInstance, name: string, password = PASSWORD): Promise<Signed> {
  const pre = await app.inject({ method: 'GET', url: '/review/api/login-token' });
  const preCookie = cookieOf(pre.headers['set-cookie'], 'hf_pre');
  const res = await app.inject({ method: 'POST', url: '/review/api/login', headers: { cookie: preCookie, 'x-csrf-token': pre.json().csrf }, payload: { name, password } });
  assert.equal(res.statusCode, 200, res.body);
  const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const session = setCookie.find((c) => c.startsWith('hf_session='));
  assert.ok(session !== undefined);
  assert.match(session, /HttpOnly/i);
  assert.match(session, /SameSite=Strict/i);
  return { cookie: session.split(';')[0] as string, csrf: res.json().csrf };
}

const get = (app: FastifyInstance, s: Signed, url: string) => app.inject({ method: 'GET', url, headers: { cookie: s.cookie } });
const post = (app: FastifyInstance, s: Signed, url: string, payload: unknown, csrf: string | null = s.csrf) =>
  app.inject({ method: 'POST', url, headers: { cookie: s.cookie, ...(csrf === null ? {} : { 'x-csrf-token': csrf }) }, payload: payload as Record<string, unknown> });

async function withFixture(fn: (f: ReviewFixture, app: FastifyInstance) => Promise<void>, options: Partial<ReviewPluginOptions> = {}): Promise<void> {
  const f = await reviewFixture();
  const app = await f.app(options);
  try {
    await fn(f, app);
  } finally {
    await app.close();
    f.close();
  }
}

test('sign-in: argon2id hash, CSRF on the sign-in itself, wrong password, lock-out after 5 failures, audit', async () => {
  await withFixture(async (f, app) => {
    await f.addUser('rad1', 'radiologist');
    assert.match(f.repo.passwordHash(f.repo.userByName('rad1')!.id), /^\$argon2id\$/);
    const pre = await app.inject({ method: 'GET', url: '/review/api/login-token' });
    const noToken = await app.inject({ method: 'POST', url: '/review/api/login', headers: { cookie: cookieOf(pre.headers['set-cookie'], 'hf_pre') }, payload: { name: 'rad1', password: PASSWORD } });
    assert.equal(noToken.statusCode, 403);
    assert.equal(noToken.json().error, 'HF_REVIEW_CSRF');
    await f.addUser('rad2', 'radiologist');
    for (let i = 0; i < 5; i++) {
      const p = await app.inject({ method: 'GET', url: '/review/api/login-token' });
      const r = await app.inject({ method: 'POST', url: '/review/api/login', headers: { cookie: cookieOf(p.headers['set-cookie'], 'hf_pre'), 'x-csrf-token': p.json().csrf }, payload: { name: 'rad2', password: 'wrong password!' } });
      assert.equal(r.statusCode, 401);
    }
    const p = await app.inject({ method: 'GET', url: '/review/api/login-token' });
    const locked = await app.inject({ method: 'POST', url: '/review/api/login', headers: { cookie: cookieOf(p.headers['set-cookie'], 'hf_pre'), 'x-csrf-token': p.json().csrf }, payload: { name: 'rad2', password: PASSWORD } });
    assert.equal(locked.statusCode, 423, 'the right password is refused while locked');
    assert.match(locked.json().message, /locked/);
    f.repo.unlock('rad2');
    await signIn(app, 'rad2');
    await signIn(app, 'rad1');
    const actions = f.store.auditLog(100).map((a) => `${a.actor} ${a.action}`);
    assert.ok(actions.includes('user:rad1 review.sign-in'));
    assert.ok(actions.includes('user:rad2 review.sign-in-failed'));
  });
});

test('sessions: missing, ended and idle-expired sessions get 401; sign-out ends the session', async () => {
  await withFixture(async (f, app) => {
    await f.addUser('rad1', 'radiologist');
    assert.equal((await app.inject({ method: 'GET', url: '/review/api/worklist' })).statusCode, 401);
    const s = await signIn(app, 'rad1');
    assert.equal((await get(app, s, '/review/api/worklist')).statusCode, 200);
    // Idle for longer than the time-out: the session's last activity moves 31 minutes into the past.
    f.store.database.prepare(`UPDATE review_sessions SET last_seen_at = ?`).run(new Date(Date.now() - 31 * 60_000).toISOString());
    const expired = await get(app, s, '/review/api/worklist');
    assert.equal(expired.statusCode, 401);
    assert.equal(expired.json().error, 'HF_REVIEW_SESSION');
    assert.match(expired.json().message, /expired/);
    assert.equal((await get(app, s, '/review/api/me')).statusCode, 401, 'an expired session stays ended');
    const s2 = await signIn(app, 'rad1');
    assert.equal((await post(app, s2, '/review/api/logout', {})).statusCode, 200);
    assert.equal((await get(app, s2, '/review/api/me')).statusCode, 401);
  });
});

test('worklist: review cases first, newest first; keyset pages cover every case once; identifiers only for allowed roles', async () => {
  await withFixture(async (f, app) => {
    await f.addUser('rad1', 'radiologist');
    await f.addUser('view1', 'viewer');
    const rad = await signIn(app, 'rad1');
    const all = (await get(app, rad, '/review/api/worklist')).json();
    assert.equal(all.total, 4);
    assert.deepEqual(all.rows.map((r: { needsReview: boolean }) => r.needsReview), [true, true, false, false]);
    const decisions = all.rows.map((r: { decision: string }) => r.decision);
    assert.deepEqual(decisions.slice(0, 2), ['radiologist-review', 'radiologist-review']);
    assert.deepEqual(decisions.slice(2).sort(), ['fracture-suspected', 'no-fracture'], 'the auto-reported decisions come after the review queue');
    assert.ok(all.rows.every((r: { accessionNumber: string }) => /^ACC\d+$/.test(r.accessionNumber)));
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: { rows: { studyKey: string }[]; next: string | null } = (await get(app, rad, `/review/api/worklist?limit=1${after === null ? '' : `&after=${after}`}`)).json();
      seen.push(...page.rows.map((r) => r.studyKey));
      after = page.next;
      if (after === null) break;
    }
    assert.deepEqual(seen, all.rows.map((r: { studyKey: string }) => r.studyKey));
    // The views column fills itself from the stored headers (bounded wait: the filler runs every 100 ms here).
    let views = '';
    for (let i = 0; i < 100 && views === ''; i++) {
      views = (await get(app, rad, '/review/api/worklist?limit=1')).json().rows[0].views;
      if (views === '') await new Promise((r) => setTimeout(r, 100));
    }
    const first = f.studies.find((s) => s.studyKey === all.rows[0].studyKey)!;
    assert.equal(views.split(' + ').length, first.sopInstanceUids.length);
    assert.match(views, /\bAP\b/);
    const review = (await get(app, rad, '/review/api/worklist?queue=review')).json();
    assert.equal(review.total, 2);
    assert.equal((await get(app, rad, '/review/api/worklist?after=not-a-cursor')).statusCode, 400);
    assert.equal((await get(app, rad, '/review/api/worklist?state=bogus')).statusCode, 400);
    const viewer = await signIn(app, 'view1');
    const vrows = (await get(app, viewer, '/review/api/worklist')).json().rows;
    assert.ok(vrows.every((r: { accessionNumber: string | null }) => r.accessionNumber === null), 'viewers see study keys only');
    const detail = (await get(app, viewer, `/review/api/cases/${f.studies[0]!.studyKey}`)).json();
    assert.equal(detail.case.accessionNumber, null);
    assert.equal(JSON.stringify(detail).includes('ACC1000'), false);
    assert.equal(JSON.stringify(detail).includes('Doe'), false);
  });
});

test('case: view is audited, pixels are full-resolution Uint16 with a window, heatmap PNG; viewer cannot give verdicts', async () => {
  await withFixture(async (f, app) => {
    await f.addUser('rad1', 'radiologist');
    await f.addUser('view1', 'viewer');
    const rad = await signIn(app, 'rad1');
    const key = f.studies[0]!.studyKey;
    const detail = (await get(app, rad, `/review/api/cases/${key}`)).json();
    assert.equal(detail.images.length, 2);
    assert.equal(detail.case.state, 'in-review');
    assert.equal(detail.case.probability, 0.62);
    assert.deepEqual(detail.images[0].boxes, [{ box: [77, 90, 154, 166], score: 0.83 }], 'the box head\'s boxes in the image\'s pixels');
    assert.equal((await get(app, rad, `/review/api/cases/${f.studies[3]!.studyKey}`)).json().images[0].boxes, null, 'none computed');
    assert.ok(f.store.auditLog(50).some((a) => a.action === 'review.view' && a.studyKey === key && a.actor === 'user:rad1'));
    const px = await app.inject({ method: 'GET', url: `/review/api/cases/${key}/images/0/pixels`, headers: { cookie: rad.cookie } });
    assert.equal(px.statusCode, 200);
    const w = Number(px.headers['x-image-width']);
    const h = Number(px.headers['x-image-height']);
    assert.equal(w, 256);
    assert.equal(px.rawPayload.byteLength, w * h * 2);
    const values = new Uint16Array(px.rawPayload.buffer, px.rawPayload.byteOffset, w * h);
    assert.ok(Math.max(...values) > 60000 && Number(px.headers['x-window-width']) > 0, 'the whole 16-bit range is used');
    const heat = await app.inject({ method: 'GET', url: `/review/api/cases/${key}/images/0/heatmap`, headers: { cookie: rad.cookie } });
    assert.equal(heat.headers['content-type'], 'image/png');
    assert.equal((await get(app, rad, `/review/api/cases/${key}/images/9/pixels`)).statusCode, 404);
    assert.equal((await get(app, rad, '/review/api/cases/Snot-a-key')).statusCode, 404);
    const viewer = await signIn(app, 'view1');
    const refused = await post(app, viewer, `/review/api/cases/${key}/verdicts`, { verdict: 'fracture' });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().error, 'HF_REVIEW_FORBIDDEN');
    assert.equal(f.repo.verdictsOf(f.studies[0]!.studyInstanceUid).length, 0);
  });
});

test('verdicts: CSRF required, versions kept, a second reader kept beside the first, HTML stored as text, bad bodies refused', async () => {
  await withFixture(async (f, app) => {
    await f.addUser('rad1', 'radiologist');
    await f.addUser('rad2', 'radiologist');
    const a = await signIn(app, 'rad1');
    const b = await signIn(app, 'rad2');
    const key = f.studies[0]!.studyKey;
    const uid = f.studies[0]!.studyInstanceUid;
    const url = `/review/api/cases/${key}/verdicts`;
    assert.equal((await post(app, a, url, { verdict: 'fracture' }, null)).statusCode, 403, 'no CSRF token');
    assert.equal((await post(app, a, url, { verdict: 'fracture' }, 'forged')).statusCode, 403, 'wrong CSRF token');
    const xss = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    const first = await post(app, a, url, { verdict: 'fracture', image: 0, box: [0.4, 0.5, 0.6, 0.7], comment: xss });
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(first.json().verdict.version, 1);
    assert.equal(first.json().verdict.comment, xss, 'stored verbatim; the app shows it as text');
    const second = await post(app, a, url, { verdict: 'no-fracture', comment: xss });
    assert.equal(second.json().verdict.version, 2);
    assert.match(second.json().verdict.changes, /fracture → no-fracture/);
    assert.match(second.json().verdict.changes, /location/);
    const other = await post(app, b, url, { verdict: 'fracture' });
    assert.equal(other.statusCode, 201);
    assert.deepEqual(other.json().others.map((v: { reader: string; verdict: string }) => `${v.reader}:${v.verdict}`), ['rad1:no-fracture'], 'the first reader\'s verdict is shown to the second');
    const all = f.repo.verdictsOf(uid);
    assert.deepEqual(all.map((v) => `${v.userName} v${v.version} ${v.verdict}`), ['rad1 v1 fracture', 'rad1 v2 no-fracture', 'rad2 v1 fracture']);
    assert.throws(() => f.store.database.prepare(`UPDATE review_verdicts SET verdict = 'fracture'`).run(), /never overwritten/);
    assert.throws(() => f.store.database.prepare('DELETE FROM review_verdicts').run(), /never deleted/);
    const detail = (await get(app, a, `/review/api/cases/${key}`)).json();
    assert.equal(detail.case.state, 'read');
    assert.equal(detail.case.readers, 2);
    assert.equal(detail.verdicts.length, 3);
    // Malformed and oversized requests: a clear answer and nothing added.
    const before = f.repo.verdictsOf(uid).length;
    const bad = [
      await post(app, a, url, { verdict: 'maybe' }),
      await post(app, a, url, { verdict: 'fracture', box: [0.5, 0.5, 0.2, 0.2], image: 0 }),
      await post(app, a, url, { verdict: 'fracture', box: [0.1, 0.1, 0.2, 0.2] }),
      await post(app, a, url, { verdict: 'fracture', comment: 'x'.repeat(2001) }),
      await app.inject({ method: 'POST', url, headers: { cookie: a.cookie, 'x-csrf-token': a.csrf, 'content-type': 'application/json' }, payload: '{"verdict": "fract' }),
    ];
    for (const r of bad) {
      assert.equal(r.statusCode, 400, r.body);
      assert.ok(typeof r.json().message === 'string' && r.json().message.length > 0);
    }
    const huge = await app.inject({ method: 'POST', url, headers: { cookie: a.cookie, 'x-csrf-token': a.csrf, 'content-type': 'application/json' }, payload: JSON.stringify({ verdict: 'fracture', comment: 'y'.repeat(40_000) }) });
    assert.equal(huge.statusCode, 413);
    assert.match(huge.json().message, /nothing was changed/);
    assert.equal(f.repo.verdictsOf(uid).length, before);
    assert.ok(f.store.auditLog(100).filter((e) => e.action === 'review.verdict').length === 3);
    assert.equal(f.logs.join('').includes(xss), false, 'comments stay out of the logs');
  });
});

test('audit sample: drawn auto-reports are blinded until the reader gives a verdict; dashboard measures agreement and the auto-report error rate', async () => {
  await withFixture(async (f, app) => {
    await f.addUser('adm', 'admin');
    await f.addUser('rad1', 'radiologist');
    const admin = await signIn(app, 'adm');
    const rad = await signIn(app, 'rad1');
    assert.equal((await app.inject({ method: 'PUT', url: '/review/api/settings/audit', headers: { cookie: rad.cookie, 'x-csrf-token': rad.csrf }, payload: { percent: 100 } })).statusCode, 403, 'radiologists cannot set the audit sample');
    const set = await app.inject({ method: 'PUT', url: '/review/api/settings/audit', headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf }, payload: { percent: 100 } });
    assert.equal(set.statusCode, 200);
    // A new auto-reported study arrives: at 100 % it is drawn for blinded review.
    const { addStudy, phantomDicoms } = await import('./reviewFixture.js');
    const audited = await addStudy(f.store, f.blobs, { uid: '1.2.826.0.1.3680043.10.1.99', accession: 'ACC9', decision: 'fracture-suspected', probability: 0.95, dicoms: phantomDicoms(1, 128, 3)[0]! });
    const c = f.repo.caseByKey(audited.studyKey)!;
    assert.equal(c.auditSample, true);
    assert.equal(c.priority, 0, 'drawn cases join the review queue');
    const blind = (await get(app, rad, `/review/api/cases/${audited.studyKey}`)).json();
    assert.equal(blind.case.blinded, true);
    assert.equal(blind.case.probability, null);
    assert.equal(blind.case.decision, null);
    assert.ok(blind.images.every((i: { result: unknown; heatmap: boolean; boxes: unknown }) => i.result === null && !i.heatmap && i.boxes === null));
    assert.equal((await get(app, rad, `/review/api/cases/${audited.studyKey}/images/0/heatmap`)).statusCode, 403);
    // The reader says no fracture; the model auto-reported P 0.95: one auto-report error on one audited case.
    assert.equal((await post(app, rad, `/review/api/cases/${audited.studyKey}/verdicts`, { verdict: 'no-fracture' })).statusCode, 201);
    assert.equal((await get(app, rad, `/review/api/cases/${audited.studyKey}`)).json().case.probability, 0.95, 'unblinded after the verdict');
    assert.equal((await post(app, rad, `/review/api/cases/${f.studies[0]!.studyKey}/verdicts`, { verdict: 'fracture' })).statusCode, 201);
    assert.equal((await post(app, rad, `/review/api/cases/${f.studies[1]!.studyKey}/verdicts`, { verdict: 'no-fracture' })).statusCode, 201);
    assert.equal((await post(app, rad, `/review/api/cases/${f.studies[2]!.studyKey}/verdicts`, { verdict: 'not-assessable' })).statusCode, 201);
    const d = (await get(app, rad, '/review/api/dashboard')).json();
    const r = d.report;
    assert.equal(d.canChangeSettings, false);
    assert.equal(r.reviewed, 4);
    assert.equal(r.compared, 3);
    assert.equal(r.excluded.notAssessable, 1);
    assert.equal(r.sensitivity.estimate, 1, 'the one fracture (P 0.62) is called');
    assert.equal(r.specificity.estimate, 0.5, 'of two no-fractures, P 0.41 is right and P 0.95 wrong');
    assert.ok(r.sensitivity.lower <= r.sensitivity.estimate && r.sensitivity.upper >= r.sensitivity.estimate);
    assert.deepEqual(r.disagreements.map((x: { studyKey: string }) => x.studyKey), [audited.studyKey]);
    assert.equal(r.audit.read, 1);
    assert.equal(r.audit.errors, 1);
    assert.equal(r.audit.errorRate, 1);
    assert.ok(r.audit.lower > 0 && r.audit.lower < 1);
    const viewer = await (async () => { await f.addUser('v', 'viewer'); return signIn(app, 'v'); })();
    assert.equal((await get(app, viewer, '/review/api/dashboard')).statusCode, 403);
  });
});

test('feedback export: consensus labels, boxes in source pixels, de-identified images that hipfrac import reads back with the same labels', async () => {
  await withFixture(async (f, app) => {
    await f.addUser('rad1', 'radiologist');
    await f.addUser('rad2', 'radiologist');
    const a = await signIn(app, 'rad1');
    const b = await signIn(app, 'rad2');
    const [s0, s1, s2, s3] = f.studies;
    await post(app, a, `/review/api/cases/${s0!.studyKey}/verdicts`, { verdict: 'fracture', image: 1, box: [0.25, 0.5, 0.5, 0.75] });
    await post(app, a, `/review/api/cases/${s1!.studyKey}/verdicts`, { verdict: 'no-fracture' });
    await post(app, a, `/review/api/cases/${s2!.studyKey}/verdicts`, { verdict: 'fracture' });
    await post(app, b, `/review/api/cases/${s2!.studyKey}/verdicts`, { verdict: 'no-fracture' });
    await post(app, a, `/review/api/cases/${s3!.studyKey}/verdicts`, { verdict: 'not-assessable' });
    const out = path.join(f.dir, 'export');
    const saltFile = path.join(f.dir, 'salt');
    const report = await exportFeedback({ store: f.store, blobs: f.blobs, outDir: out, saltFile });
    assert.equal(report.studies, 2);
    const images = s0!.sopInstanceUids.length + s1!.sopInstanceUids.length;
    assert.equal(report.images, images);
    assert.deepEqual(report.left.map((l) => l.why).sort(), ['not-assessable', 'readers-disagree']);
    const text = readFileSync(path.join(out, 'labels.csv'), 'utf8');
    const table = parseLabelTable(text, 'labels.csv', { join: 'path' });
    assert.equal(table.bad.length, 0);
    const byPath = new Map(table.rows.map((r) => [r.key, r]));
    assert.equal(byPath.get(`${s0!.studyKey}_0.dcm`)?.label, 1);
    assert.equal(byPath.get(`${s0!.studyKey}_1.dcm`)?.label, 1);
    assert.equal(byPath.get(`${s1!.studyKey}_0.dcm`)?.label, 0);
    const boxed = byPath.get(`${s0!.studyKey}_1.dcm`)!.fields;
    assert.deepEqual([boxed['hip_roi_x0'], boxed['hip_roi_y0'], boxed['hip_roi_x1'], boxed['hip_roi_y1']], ['64', '128', '128', '192'], 'fractions × 256 px');
    const dicom = readFileSync(path.join(out, 'images', `${s0!.studyKey}_0.dcm`));
    assert.equal(dicom.includes(Buffer.from('Doe^Jane')), false, 'patient name removed');
    assert.equal(dicom.includes(Buffer.from('ACC1000')), false, 'accession removed');
    const { importDataset, readManifestRows } = await import('../../src/data/index.js');
    const dataset = path.join(f.dir, 'dataset');
    const imported = await importDataset({ inputDir: path.join(out, 'images'), outDir: dataset, layout: 'dicom', labels: { file: path.join(out, 'labels.csv'), join: 'path' }, workers: 1, saltFile, maxSide: 128 });
    assert.equal(imported.imported, images);
    assert.equal(imported.labels.labelled, images);
    const rows = await readManifestRows(dataset);
    const labels = new Map(rows.map((r) => [r.sourcePath, r.label]));
    assert.equal(labels.get(`${s0!.studyKey}_1.dcm`), 1);
    assert.equal(labels.get(`${s1!.studyKey}_1.dcm`), 0);
    const roi = rows.find((r) => r.sourcePath === `${s0!.studyKey}_1.dcm`)?.roi;
    assert.deepEqual(roi, [0.25, 0.5, 0.5, 0.75], 'the drawn box comes back as the image\'s ROI');
    // The CLI writes the same labels (the store is closed here so the CLI process has it alone).
    f.store.close();
    const { spawnSync } = await import('node:child_process');
    const viaCli = path.join(f.dir, 'export-cli');
    const run = spawnSync(process.execPath, [path.resolve('dist/src/cli/main.js'), 'feedback', 'export', '--data', f.dir, '--out', viaCli, '--salt-file', saltFile], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Exported 2 studies \(1 fracture, 1 no fracture\)/);
    assert.equal(readFileSync(path.join(viaCli, 'labels.csv'), 'utf8'), text);
  });
});

test('sign-in: Secure cookie under TLS; attempts per address are rate-limited whatever the user name', async () => {
  await withFixture(async (f, app) => {
    await f.addUser('rad1', 'radiologist');
    const pre = await app.inject({ method: 'GET', url: '/review/api/login-token' });
    const res = await app.inject({ method: 'POST', url: '/review/api/login', headers: { cookie: cookieOf(pre.headers['set-cookie'], 'hf_pre'), 'x-csrf-token': pre.json().csrf }, payload: { name: 'rad1', password: PASSWORD } });
    const session = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('hf_session='));
    assert.match(session ?? '', /; Secure/i);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await app.inject({ method: 'GET', url: '/review/api/login-token' });
      const r = await app.inject({ method: 'POST', url: '/review/api/login', headers: { cookie: cookieOf(p.headers['set-cookie'], 'hf_pre'), 'x-csrf-token': p.json().csrf }, payload: { name: `someone${i}`, password: 'a guess at it' } });
      statuses.push(r.statusCode);
      if (r.statusCode === 429) assert.match(r.json().message, /too many sign-in attempts/);
    }
    assert.deepEqual(statuses, [401, 429, 429], 'the limit is 2 per minute here, the first used by the good sign-in');
  }, { secureCookies: true, signInsPerMinute: 2 });
});

test('SSO header mode: off by default; on, a trusted proxy\'s header signs a known user in and others are refused', async () => {
  await withFixture(async (f, app) => {
    await f.addUser('rad1', 'radiologist');
    assert.equal((await app.inject({ method: 'GET', url: '/review/api/me', headers: { 'x-remote-user': 'rad1' } })).statusCode, 401, 'ignored by default');
    const sso = await f.app({ sso: { header: 'x-remote-user', trustedProxies: ['127.0.0.1'] } });
    try {
      const me = await sso.inject({ method: 'GET', url: '/review/api/me', headers: { 'x-remote-user': 'rad1' } });
      assert.equal(me.statusCode, 200);
      assert.equal(me.json().user, 'rad1');
      assert.ok(cookieOf(me.headers['set-cookie'], 'hf_session'));
      assert.equal((await sso.inject({ method: 'GET', url: '/review/api/me', headers: { 'x-remote-user': 'nobody' } })).statusCode, 403);
      assert.equal((await sso.inject({ method: 'GET', url: '/review/api/me', remoteAddress: '10.0.0.9', headers: { 'x-remote-user': 'rad1' } })).statusCode, 401, 'untrusted senders are ignored');
      assert.ok(f.store.auditLog(20).some((e) => e.action === 'review.sign-in' && e.detail === 'sso header'));
    } finally {
      await sso.close();
    }
  });
});

test('hipfrac user add reads the password from stdin and stores an argon2id hash; bad role and short password refused', async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { openStore } = await import('../../src/serve/store/index.js');
  const { REVIEW_MIGRATIONS, ReviewRepository, verifyPassword } = await import('../../src/serve/review/index.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-user-'));
  const cli = path.resolve('dist/src/cli/main.js');
  try {
    const add = spawnSync(process.execPath, [cli, 'user', 'add', 'dr.smith', '--role', 'radiologist', '--data', dir], { input: `${PASSWORD}\n`, encoding: 'utf8', timeout: 120_000 });
    assert.equal(add.status, 0, add.stderr);
    assert.match(add.stdout, /Added dr\.smith \(radiologist\)/);
    const badRole = spawnSync(process.execPath, [cli, 'user', 'add', 'x', '--role', 'superuser', '--data', dir], { input: `${PASSWORD}\n`, encoding: 'utf8', timeout: 120_000 });
    assert.equal(badRole.status, 2);
    const short = spawnSync(process.execPath, [cli, 'user', 'add', 'y', '--role', 'viewer', '--data', dir], { input: 'short\n', encoding: 'utf8', timeout: 120_000 });
    assert.equal(short.status, 1);
    assert.match(short.stderr, /at least 10 characters/);
    const { store } = openStore(dir, { migrations: REVIEW_MIGRATIONS });
    try {
      const repo = new ReviewRepository(store);
      assert.deepEqual(repo.listUsers().map((u) => `${u.name}:${u.role}`), ['dr.smith:radiologist']);
      const hash = repo.passwordHash(repo.userByName('dr.smith')!.id);
      assert.match(hash, /^\$argon2id\$/);
      assert.equal(await verifyPassword(hash, PASSWORD), true);
      assert.equal(await verifyPassword(hash, 'not the password'), false);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reviewPlugin registers beside node plugins that already use @fastify/cookie and @fastify/rate-limit app-wide', async () => {
  const f = await reviewFixture();
  const { buildHttpApp } = await import('../../src/serve/http/index.js');
  const { createServeLogger } = await import('../../src/serve/log.js');
  const { reviewPlugin } = await import('../../src/serve/review/index.js');
  const cookie = (await import('@fastify/cookie')).default;
  const rateLimit = (await import('@fastify/rate-limit')).default;
  const { Writable } = await import('node:stream');
  const sink = new Writable({ write(_c, _e, done) { done(); } });
  const app = await buildHttpApp({ store: f.store, logger: createServeLogger({ destination: sink }), health: () => ({ status: 'ok', version: 't', uptimeSeconds: 0, checks: {} }) }, [
    async (root) => {
      await root.register(cookie);
      await root.register(rateLimit, { global: false });
    },
    reviewPlugin({ store: f.store, blobs: f.blobs }),
  ]);
  try {
    await f.addUser('rad1', 'radiologist');
    const s = await signIn(app, 'rad1');
    assert.equal((await get(app, s, '/review/api/worklist')).json().total, 4);
  } finally {
    await app.close();
    f.close();
  }
});

test('migration 0101: a store made under 0100 re-sorts its cases by the node\'s study decisions and samples auto-reports for audit', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { openStore } = await import('../../src/serve/store/index.js');
  const { REVIEW_MIGRATIONS, ReviewRepository } = await import('../../src/serve/review/index.js');
  const { addStudy, phantomDicoms } = await import('./reviewFixture.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-review-0101-'));
  try {
    const dicoms = phantomDicoms(3, 64);
    const old = openStore(dir, { migrations: REVIEW_MIGRATIONS.slice(0, 1), minFreeBytes: 0 });
    const specs = [['radiologist-review', 0.6], ['no-fracture', 0.02], ['fracture-suspected', 0.98]] as const;
    for (const [i, [decision, probability]] of specs.entries()) await addStudy(old.store, old.blobs, { uid: `2.25.0101${i}`, accession: `A${i}`, decision, probability, dicoms: dicoms[i]! });
    const priorities = (store: typeof old.store): number[] => specs.map((_, i) => new ReviewRepository(store).worklist({}).rows.find((r) => r.studyInstanceUid === `2.25.0101${i}`)!.priority);
    assert.deepEqual(priorities(old.store), [0, 0, 0], 'under 0100 every node decision sat in the review queue');
    old.store.close();
    const { store, blobs } = openStore(dir, { migrations: REVIEW_MIGRATIONS, minFreeBytes: 0 });
    try {
      assert.deepEqual(priorities(store), [0, 1, 1]);
      new ReviewRepository(store).setAuditPercent(100);
      const audited = await addStudy(store, blobs, { uid: '2.25.01019', accession: 'A9', decision: 'no-fracture', probability: 0.01, dicoms: phantomDicoms(1, 64, 5)[0]! });
      const row = new ReviewRepository(store).caseByKey(audited.studyKey)!;
      assert.deepEqual([row.auditSample, row.priority], [true, 0], 'an auto-reported study is drawn for the audit sample');
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

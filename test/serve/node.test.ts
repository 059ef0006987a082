// hipfrac serve end to end with real parts: Orthanc (the PACS) sends a phantom study over DICOM; hipfrac's SR and
// Secondary Capture arrive back in Orthanc and pass dsrdump and dciodvfy; dcmtk's echoscu/storescu as a second
// client (re-sent instances recognised, an unknown calling AE rejected, a non-image skipped, a corrupt pixel
// stream quarantined); STOW-RS over fetch; a destination that is down retried until it comes up; API tokens;
// no patient identifier in any log line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { buildTriageSr, writeDicom } from '../../src/dicom/index.js';
import { SERVE_DEFAULTS, type RunningNode } from '../../src/serve/index.js';
import { needs } from '../helpers/references.js';
import { dciodvfyErrors } from '../dicom/fixtures.js';
import { makeFixture, runTool, startNode, waitFor, type Fixture } from './fixtures.js';
import { freePort } from '../helpers/ports.js';
import { seriesOfStudy, startOrthanc, type Orthanc } from './orthanc.js';

interface StudyJson {
  studyInstanceUid: string;
  decision: string | null;
  state: string;
  images: { sopInstanceUid: string; status: string; decision: string | null; fractureProbability: number | null; heatmap: string | null; receiveCount: number; statusReason: string }[];
  deliveries: { kind: string; destination: string; state: string; attempts: number; lastError: string }[];
}

describe('hipfrac serve with Orthanc as the PACS', needs('orthanc', 'dcmtk', 'dicom3tools'), () => {
  let fx: Fixture;
  let orthanc: Orthanc;
  let node: RunningNode;
  let readToken: string;
  let adminToken: string;
  let downPort: number;
  const logLines: string[] = [];
  const stops: (() => Promise<void> | void)[] = [];

  before(async () => {
    fx = await makeFixture(3, 7);
    const hipfracPort = await freePort();
    downPort = await freePort();
    orthanc = await startOrthanc(path.join(fx.dir, 'orthanc'), { hipfrac: ['HIPFRAC', '127.0.0.1', hipfracPort] });
    stops.push(() => orthanc.stop());
    node = await startNode(fx, path.join(fx.dir, 'data'), {
      dicomPort: hipfracPort,
      destinations: [`ORTHANC@127.0.0.1:${orthanc.dicomPort}`, `DOWN@127.0.0.1:${downPort}`],
      allowedCallingAes: ['ORTHANC', 'STORESCU', 'ECHOSCU'],
      studyQuietSeconds: 2,
    }, logLines);
    stops.push(() => node.close());
    readToken = node.store.createToken('reader', ['read']).token;
    adminToken = node.store.createToken('admin', ['admin']).token;
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop();
    fx?.cleanup();
  });

  const api = async (url: string, token: string | null = readToken): Promise<{ status: number; json: unknown }> => {
    const r = await fetch(`http://127.0.0.1:${node.httpPort}${url}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    const text = await r.text();
    return { status: r.status, json: text.startsWith('{') ? JSON.parse(text) : text };
  };
  const study = async (uid: string): Promise<StudyJson> => (await api(`/v1/studies/${encodeURIComponent(uid)}`)).json as StudyJson;

  test('the default number of inference workers run, each 10 nice steps below the node (the default workerNice), so receiving gets the CPU first', () => {
    const children = readdirSync('/proc/self/task').flatMap((task) => readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim().split(/\s+/).filter((p) => p !== '').map(Number));
    const workers = children.filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path.join('serve', 'infer', 'worker.js'));
      } catch {
        return false;
      }
    });
    assert.equal(workers.length, SERVE_DEFAULTS.workers, 'the default number of inference worker processes');
    for (const pid of workers) assert.equal(os.getPriority(pid), Math.min(19, os.getPriority() + 10));
  });

  test('Orthanc sends a study; the SR and the Secondary Captures come back and pass dsrdump and dciodvfy', async () => {
    for (const f of fx.files) await orthanc.rest('POST', '/instances', readFileSync(f), 'application/dicom');
    const studies = await orthanc.rest<string[]>('GET', '/studies');
    assert.equal(studies.length, 3);
    const first = studies[0] as string;
    const uid = (await orthanc.rest<{ MainDicomTags: { StudyInstanceUID: string } }>('GET', `/studies/${first}`)).MainDicomTags.StudyInstanceUID;
    await orthanc.rest('POST', '/modalities/hipfrac/store', JSON.stringify({ Resources: [first], Synchronous: true }));
    const s = await waitFor('the study decided and its results in Orthanc', async () => {
      const j = await study(uid);
      return j.deliveries.length > 0 && j.deliveries.filter((d) => d.destination.startsWith('ORTHANC')).every((d) => d.state === 'sent') ? j : undefined;
    }, 120_000);
    assert.ok(s.images.length >= 1);
    for (const image of s.images) {
      assert.equal(image.status, 'stored');
      assert.ok(image.fractureProbability !== null && image.fractureProbability >= 0 && image.fractureProbability <= 1);
    }
    const reviewed = s.images.filter((i) => i.decision === 'radiologist-review');
    assert.ok(reviewed.every((i) => i.heatmap !== null), 'every reviewed image has a heatmap link');
    const series = await seriesOfStudy(orthanc, uid);
    const srSeries = series.filter((x) => x.MainDicomTags.Modality === 'SR');
    const scSeries = series.filter((x) => x.MainDicomTags.Modality === 'OT');
    assert.equal(srSeries.length, 1);
    assert.equal(srSeries[0]?.Instances.length, 1, 'one SR for the study');
    assert.equal(scSeries.reduce((n, x) => n + x.Instances.length, 0), reviewed.length, 'one Secondary Capture per reviewed image');
    const srFile = path.join(fx.dir, 'sr-from-pacs.dcm');
    writeFileSync(srFile, await orthanc.restBytes(`/instances/${srSeries[0]?.Instances[0]}/file`));
    const dump = await runTool('dsrdump', [srFile]);
    assert.equal(dump.status, 0, dump.stderr);
    assert.match(dump.stdout, /Finding"\)="(Fracture suspected|No fracture|Needs radiologist review)"/);
    for (const image of s.images) assert.ok(dump.stdout.includes(`"${(image.fractureProbability as number).toFixed(4)}"`), 'P(fracture) of each image');
    assert.match(dump.stdout, /not a diagnosis/);
    assert.deepEqual(dciodvfyErrors(srFile), []);
    if (scSeries.length > 0) {
      const scFile = path.join(fx.dir, 'sc-from-pacs.dcm');
      writeFileSync(scFile, await orthanc.restBytes(`/instances/${scSeries[0]?.Instances[0]}/file`));
      assert.deepEqual(dciodvfyErrors(scFile), []);
      const tags = await orthanc.rest<Record<string, string>>('GET', `/instances/${scSeries[0]?.Instances[0]}/simplified-tags`);
      assert.equal(tags['StudyInstanceUID'], uid, 'in the source study');
      assert.equal(tags['BurnedInAnnotation'], 'YES');
      assert.ok(!s.images.some((i) => i.sopInstanceUid === tags['SOPInstanceUID']));
    }
  });

  test('a destination that is down is retried, visible in the API, and served once it is up', async () => {
    const j = await waitFor('retries to the down destination', async () => {
      const list = (await api('/v1/studies?state=decided')).json as { studies: { studyInstanceUid: string }[] };
      const first = list.studies[0];
      if (first === undefined) return undefined;
      const s = await study(first.studyInstanceUid);
      return s.deliveries.some((d) => d.destination.startsWith('DOWN') && d.attempts >= 2) ? s : undefined;
    }, 60_000);
    const down = j.deliveries.filter((d) => d.destination.startsWith('DOWN'));
    assert.ok(down.every((d) => d.state === 'pending' && d.lastError !== ''));
    const received = path.join(fx.dir, 'down-received');
    mkdirSync(received);
    const scp = spawn('storescp', ['-aet', 'DOWN', '-od', received, String(downPort)], { stdio: 'ignore' });
    try {
      const delivered = await waitFor('delivery once the destination is up', async () => {
        const s = await study(j.studyInstanceUid);
        return s.deliveries.filter((d) => d.destination.startsWith('DOWN')).every((d) => d.state === 'sent') ? s : undefined;
      }, 60_000);
      assert.equal(delivered.state, 'delivered');
      assert.equal(readdirSync(received).length, down.length, 'nothing lost: every queued object arrived');
    } finally {
      scp.kill('SIGKILL');
    }
  });

  test('echoscu and storescu as a second client; a re-sent instance is recognised, not processed twice', async () => {
    const echo = await runTool('echoscu', ['-aet', 'ECHOSCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort)]);
    assert.equal(echo.status, 0, echo.stderr);
    const file = fx.files[fx.files.length - 1] as string;
    for (let i = 0; i < 2; i++) {
      const r = await runTool('storescu', ['-aet', 'STORESCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort), file]);
      assert.equal(r.status, 0, r.stderr);
    }
    const sop = /\(0008,0018\) UI \[([^\]]+)\]/.exec((await runTool('dcmdump', ['+P', 'SOPInstanceUID', file])).stdout)?.[1] as string;
    const instance = node.store.getInstance(sop);
    assert.equal(instance?.receiveCount, 2);
    await waitFor('a result for the image', () => (node.store.resultsOfStudy(instance?.studyInstanceUid as string).some((r) => r.sopInstanceUid === sop) ? true : undefined));
    assert.equal(node.store.resultsOfStudy(instance?.studyInstanceUid as string).filter((r) => r.sopInstanceUid === sop).length, 1);
    assert.equal(node.store.jobsOfStudy(instance?.studyInstanceUid as string).filter((j) => j.sopInstanceUid === sop).length, 1);
  });

  test('an unknown calling AE is rejected', async () => {
    const r = await runTool('echoscu', ['-aet', 'INTRUDER', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort)]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Association Rejected/i);
  });

  test('a non-image object (an SR) is accepted and recorded as skipped', async () => {
    const sr = buildTriageSr({
      source: { PatientName: 'Other^Patient', PatientID: 'X1', StudyInstanceUID: '2.25.1111' }, sopInstanceUid: '2.25.2222', seriesInstanceUid: '2.25.3333', seriesNumber: 1, instanceNumber: 1,
      finding: 'No fracture', decision: 'no-fracture', reason: 'r', operatingPoint: 'o', model: { name: 'm', version: 'v', dataFingerprint: 'f' }, images: [], created: new Date(),
    });
    const file = path.join(fx.dir, 'foreign-sr.dcm');
    writeFileSync(file, sr);
    const r = await runTool('storescu', ['-aet', 'STORESCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort), file]);
    assert.equal(r.status, 0, r.stderr);
    const instance = node.store.getInstance('2.25.2222');
    assert.equal(instance?.status, 'skipped');
    assert.match(instance?.reason ?? '', /Structured Report/);
    assert.equal(node.store.jobsOfStudy('2.25.1111').length, 0);
  });

  test('a corrupt pixel stream is quarantined with its reason; the API says not processed, the SR says so', async () => {
    const file = path.join(fx.dir, 'corrupt.dcm');
    writeFileSync(file, writeDicom({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1', SOPInstanceUID: '2.25.4444', StudyInstanceUID: '2.25.5555', SeriesInstanceUID: '2.25.6666',
      PatientName: 'Corrupt^Case', PatientID: 'C1', Modality: 'DX', Rows: 64, Columns: 64, BitsAllocated: 16, BitsStored: 12, HighBit: 11,
      PixelRepresentation: 0, SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', PixelData: [new Uint8Array(100).buffer], _vrMap: { PixelData: 'OW' },
    }));
    const r = await runTool('storescu', ['-aet', 'STORESCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort), file]);
    assert.equal(r.status, 0, r.stderr);
    const s = await waitFor('the corrupt study decided', async () => {
      const j = await study('2.25.5555');
      return j.decision !== null ? j : undefined;
    }, 60_000);
    assert.equal(s.decision, 'not-processed');
    assert.equal(s.images[0]?.status, 'quarantined');
    assert.equal(s.images[0]?.decision, 'not-processed');
    assert.notEqual(s.images[0]?.statusReason, '');
    const srSeries = await waitFor('the SR in Orthanc', async () => {
      const series = (await seriesOfStudy(orthanc, '2.25.5555')).filter((x) => x.MainDicomTags.Modality === 'SR');
      return series.length > 0 ? series : undefined;
    }, 60_000);
    const srFile = path.join(fx.dir, 'corrupt-sr.dcm');
    writeFileSync(srFile, await orthanc.restBytes(`/instances/${srSeries[0]?.Instances[0]}/file`));
    const dump = await runTool('dsrdump', [srFile]);
    assert.match(dump.stdout, /Finding"\)="Not processed"/);
    assert.match(dump.stdout, /not-processed/);
  });

  test('STOW-RS stores over HTTP with an admin token; a read token cannot, no token or a wrong one is 401', async () => {
    const file = fx.files[0] as string;
    const boundary = 'hipfrac-test-boundary';
    const body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), readFileSync(file), Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const post = (token?: string) => fetch(`http://127.0.0.1:${node.httpPort}/dicomweb/studies`, {
      method: 'POST', body, headers: { 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    });
    assert.equal((await post()).status, 401);
    assert.equal((await post('hft_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status, 401);
    assert.equal((await post(readToken)).status, 403, 'a read token cannot store');
    const ok = await post(adminToken);
    assert.equal(ok.status, 200);
    const json = (await ok.json()) as Record<string, { Value: Record<string, { Value: string[] }>[] }>;
    assert.equal(json['00081199']?.Value.length, 1);
    assert.equal((await api('/v1/studies')).status, 200);
    assert.equal((await api('/v1/studies', null)).status, 401);
    assert.equal((await api('/v1/studies', 'hft_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status, 401);
    assert.equal((await api('/v1/health', null)).status, 200, 'health needs no token');
    const metrics = await api('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.json), /hipfrac_queue_depth \d+/);
    assert.match(String(metrics.json), /hipfrac_instances_received_total\{outcome="stored"\} \d+/);
    assert.match(String(metrics.json), /hipfrac_inference_batch_seconds_count \d+/);
    const page = (await api('/v1/studies?pageSize=1&page=1')).json as { total: number; studies: unknown[] };
    assert.equal(page.studies.length, 1);
    assert.ok(page.total >= 3);
    const filtered = (await api('/v1/studies?decision=not-processed')).json as { studies: { decision: string }[] };
    assert.ok(filtered.studies.length >= 1 && filtered.studies.every((x) => x.decision === 'not-processed'));
  });

  test('no patient name or ID in any log line; the audit log names who did what to which study key', () => {
    const log = logLines.join('');
    assert.ok(logLines.length > 10);
    for (const phi of [...fx.patientNames, ...fx.patientIds, 'Corrupt^Case', 'Other^Patient']) assert.equal(log.includes(phi), false, `log carries ${phi}`);
    for (const phi of fx.patientNames) assert.equal(log.includes(phi.split('^')[1] as string), false);
    const audit = node.store.auditLog(1000);
    assert.ok(audit.some((a) => a.actor === 'ae:ORTHANC' && a.action === 'receive' && /^S[0-9a-f]{16}$/.test(a.studyKey)));
    assert.ok(audit.some((a) => a.actor.startsWith('token:') && a.action === 'read-study'));
    assert.ok(audit.some((a) => a.action === 'deliver-sr'));
  });
});

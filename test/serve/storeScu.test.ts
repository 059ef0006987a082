// The node's C-STORE SCU: a stored result file's data set goes out byte for byte when the destination accepts its
// transfer syntax, and is transcoded (not sent broken) when the destination takes only implicit VR little endian.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readDicomIdentity, splitPart10, writeDicom } from '../../src/dicom/index.js';
import { storeFiles } from '../../src/serve/deliver/storeScu.js';
import { needs } from '../helpers/references.js';
import { freePort } from '../helpers/ports.js';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';

async function withStorescp(t: { after(fn: () => void): void }, options: readonly string[]): Promise<{ port: number; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hipfrac-storescu-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'in'));
  const port = await freePort();
  const scp = spawn('storescp', ['-aet', 'DEST', '-od', path.join(dir, 'in'), ...options, String(port)], { stdio: 'ignore' });
  t.after(() => scp.kill('SIGKILL'));
  // It needs a moment to listen; send() also retries a refused connection (bounded).
  await new Promise((r) => setTimeout(r, 300));
  return { port, dir };
}

function resultFile(dir: string, n: number): string {
  const file = path.join(dir, `result-${n}.dcm`);
  writeFileSync(file, writeDicom({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.7', SOPInstanceUID: `2.25.99${n}`, StudyInstanceUID: '2.25.7', SeriesInstanceUID: '2.25.8',
    PatientID: 'PID-7', Modality: 'OT', SeriesDescription: `hipfrac result ${n}`, InstanceNumber: String(n),
  }, { transferSyntaxUid: EXPLICIT_LE }));
  return file;
}

async function send(files: string[], port: number): Promise<Awaited<ReturnType<typeof storeFiles>>> {
  // storescp may need a moment to listen: retry a refused connection a few times (bounded).
  for (let attempt = 0; ; attempt++) {
    const r = await storeFiles(files, { aeTitle: 'DEST', host: '127.0.0.1', port }, 'HIPFRAC', 15_000);
    if (r.statuses.size > 0 || attempt >= 10) return r;
    await new Promise((res) => setTimeout(res, 300));
  }
}

test('a result file goes out byte for byte: the destination receives exactly the stored data set', needs('dcmtk'), async (t) => {
  const { port, dir } = await withStorescp(t, ['+B']);
  const files = [resultFile(dir, 1), resultFile(dir, 2)];
  const r = await send(files, port);
  assert.deepEqual([...r.statuses.values()], [0, 0], r.error);
  const received = readdirSync(path.join(dir, 'in')).map((f) => readFileSync(path.join(dir, 'in', f)));
  assert.equal(received.length, 2);
  for (const file of files) {
    const sent = splitPart10(readFileSync(file), file);
    const got = received.map((b) => splitPart10(b, 'received')).find((x) => x.meta.sopInstanceUid === sent.meta.sopInstanceUid);
    assert.ok(got !== undefined, `${sent.meta.sopInstanceUid} arrived`);
    assert.equal(got.meta.transferSyntaxUid, EXPLICIT_LE);
    assert.equal(Buffer.from(got.dataset).equals(Buffer.from(sent.dataset)), true, 'the data set bytes are the stored ones');
  }
});

test('a destination that takes implicit VR only gets the object transcoded, whole', needs('dcmtk'), async (t) => {
  const { port, dir } = await withStorescp(t, ['+xi', '+B']);
  const file = resultFile(dir, 3);
  const r = await send([file], port);
  assert.deepEqual([...r.statuses.values()], [0], r.error);
  const [name] = readdirSync(path.join(dir, 'in'));
  const got = readFileSync(path.join(dir, 'in', name as string));
  assert.equal(splitPart10(got, 'received').meta.transferSyntaxUid, IMPLICIT_LE);
  const id = readDicomIdentity(got, 'received');
  assert.equal(id.sopInstanceUid, '2.25.993');
  assert.equal(id.patientId, 'PID-7');
  assert.equal(id.studyInstanceUid, '2.25.7');
});

// The node's limits over real DICOM (dcmtk's storescu/echoscu and dcmjs-dimse as clients, the node in this process):
// an instance over the size limit is refused with Out of Resources and nothing is kept while the association goes on;
// one association more than the limit is rejected (transient, local limit exceeded) while the one within it
// completes; a data volume below its free-space reserve refuses new instances, keeps what is stored and accepts
// again once space is back. And a model trained on hip crops is served once its checkpoint carries a hip localiser:
// the workers cut each image to the localiser's region.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decode } from 'fast-png';
import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import dimse from 'dcmjs-dimse';
import { writeDicom } from '../../src/dicom/index.js';
import type { RunningNode } from '../../src/serve/index.js';
import { needs } from '../helpers/references.js';
import { makeFixture, runTool, startNode, waitFor, type Fixture } from './fixtures.js';

const ADD_LOCALISER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'addLocaliser.js');
const sopOf = (file: string): string => /\(0008,0018\) UI \[([^\]]+)\]/.exec(spawnSync('dcmdump', ['+P', 'SOPInstanceUID', file], { encoding: 'utf8' }).stdout)?.[1] as string;
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const objectFiles = (data: string): string[] => {
  try {
    return readdirSync(path.join(data, 'objects'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.dcm')).sort();
  } catch {
    return [];
  }
};
const storescu = (node: RunningNode, files: readonly string[], extra: readonly string[] = []) =>
  runTool('storescu', ['-v', '-xr', ...extra, '-aet', 'STORESCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort), ...files]);

describe('hipfrac serve limits', needs('dcmtk'), () => {
  let fx: Fixture;
  const stops: (() => Promise<void> | void)[] = [];

  before(async () => {
    fx = await makeFixture(3, 11);
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop();
    fx?.cleanup();
  });

  const start = async (name: string, overrides: Parameters<typeof startNode>[2]): Promise<{ node: RunningNode; data: string; lines: string[] }> => {
    const data = path.join(fx.dir, name);
    const lines: string[] = [];
    const node = await startNode(fx, data, overrides, lines);
    stops.push(() => node.close());
    return { node, data, lines };
  };

  test('an instance over the size limit gets Out of Resources (0xA700), nothing is kept, and the same association goes on', async () => {
    const limit = 64 * 1024;
    const { node, data } = await start('size', { maxObjectBytes: limit });
    const big = path.join(fx.dir, 'big.dcm');
    const pixels = new Uint16Array(256 * 256).map((_, i) => (i * 37) % 4096);
    writeFileSync(big, writeDicom({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.1', SOPInstanceUID: '2.25.7001', StudyInstanceUID: '2.25.7002', SeriesInstanceUID: '2.25.7003',
      PatientName: 'Big^Image', PatientID: 'B1', Modality: 'DX', Rows: 256, Columns: 256, BitsAllocated: 16, BitsStored: 12, HighBit: 11,
      PixelRepresentation: 0, SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', PixelData: [pixels.buffer], _vrMap: { PixelData: 'OW' },
    }));
    assert.ok(statSync(big).size > limit);
    const normal = fx.files[0] as string;
    assert.ok(statSync(normal).size < limit);
    // --no-halt: storescu goes on after a refused object, in the same association.
    const r = await storescu(node, [big, normal], ['--no-halt']);
    assert.equal(r.status, 0, r.stderr);
    const responses = [...r.stderr.matchAll(/Received Store Response \(([^)]+)\)/g)].map((m) => m[1]);
    assert.deepEqual(responses, ['Refused: OutOfResources', 'Success']);
    assert.equal(node.store.getInstance('2.25.7001'), undefined, 'nothing recorded for the refused instance');
    assert.equal(node.store.getStudy('2.25.7002'), undefined);
    assert.equal(node.store.getInstance(sopOf(normal))?.status, 'stored', 'the next normal instance is kept');
    assert.equal(objectFiles(data).length, 1, 'only the normal instance is on disk');
    const echo = await runTool('echoscu', ['-aet', 'ECHOSCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort)]);
    assert.equal(echo.status, 0, 'the node keeps running');
  });

  test('one association more than the limit is rejected as busy (transient, local limit exceeded); the one within it completes', async () => {
    const { node } = await start('associations', { maxAssociations: 1 });
    const [held, second] = fx.files as [string, string];
    // A client that keeps its association open for a while after its C-STORE (linger) holds the only slot (its
    // connect timeout is also the socket's idle timeout in dcmjs-dimse, hence longer than the linger).
    const client = new dimse.Client();
    const request = new dimse.requests.CStoreRequest(held);
    let heldStatus: number | undefined;
    request.on('response', (response: { getStatus(): number }) => {
      heldStatus = response.getStatus();
    });
    client.addRequest(request);
    let released = false;
    let closed = false;
    client.on('associationReleased', () => {
      released = true;
    });
    client.on('closed', () => {
      closed = true;
    });
    client.send('127.0.0.1', node.dicomPort, 'HOLDER', 'HIPFRAC', { associationLingerTimeout: 15_000, connectTimeout: 120_000, associationTimeout: 60_000, pduTimeout: 60_000 });
    stops.push(() => {
      if (!closed) client.abort();
    });
    await waitFor('the held association\'s C-STORE answered', () => (heldStatus !== undefined ? true : undefined), 30_000);
    assert.equal(heldStatus, 0);
    const echo = await runTool('echoscu', ['-v', '-aet', 'ECHOSCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort)]);
    assert.notEqual(echo.status, 0);
    assert.match(echo.stderr, /Association Rejected/);
    assert.match(echo.stderr, /Rejected Transient/);
    assert.match(echo.stderr, /Local limit exceeded/i);
    const refused = await storescu(node, [second]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /Association Rejected/);
    assert.equal(node.store.getInstance(sopOf(second)), undefined, 'nothing from the rejected association');
    assert.equal(released || closed, false, 'the held association was still open while the others were rejected');
    await waitFor('the held association released by its client', () => (released && closed ? true : undefined), 60_000);
    assert.equal(node.store.getInstance(sopOf(held))?.status, 'stored', 'the association within the limit completed');
    const after = await storescu(node, [second]);
    assert.equal(after.status, 0, after.stderr);
    assert.equal(node.store.getInstance(sopOf(second))?.status, 'stored', 'the slot is free again');
  });

  test('below the free-space reserve new instances get Out of Resources, what is stored is kept; accepted again once space is back', async (t) => {
    const probe = path.join(fx.dir, 'disk');
    const free = async (): Promise<number> => {
      const s = await statfs(fx.dir);
      return Number(s.bavail) * Number(s.bsize);
    };
    const filler = path.join(fx.dir, 'filler.bin');
    t.after(() => rmSync(filler, { force: true }));
    const fillBytes = 1024 ** 3;
    const freeAtStart = await free();
    assert.ok(freeAtStart > 2 * fillBytes, `the test needs 2 GiB free on ${fx.dir}`);
    // The reserve sits half the filler below today's free space: the filler takes the volume below it, removing it gives it back.
    const { node, data } = await start(path.basename(probe), { minFreeBytes: freeAtStart - fillBytes / 2 });
    const [kept, refusedFile, later] = fx.files as [string, string, string];
    const first = await storescu(node, [kept]);
    assert.equal(first.status, 0, first.stderr);
    const keptRecord = node.store.getInstance(sopOf(kept));
    assert.equal(keptRecord?.status, 'stored');
    const keptHash = sha256(path.join(data, keptRecord?.file as string));

    const fallocate = spawnSync('fallocate', ['-l', String(fillBytes), filler], { encoding: 'utf8' });
    assert.equal(fallocate.status, 0, fallocate.stderr);
    const full = await storescu(node, [refusedFile]);
    assert.notEqual(full.status, 0);
    assert.match(full.stderr, /Received Store Response \(Refused: OutOfResources\)/);
    assert.equal(node.store.getInstance(sopOf(refusedFile)), undefined, 'nothing recorded for the refused instance');
    assert.equal(objectFiles(data).length, 1);
    // A re-sent instance that is already kept needs no space: recognised and acknowledged.
    const resent = await storescu(node, [kept]);
    assert.equal(resent.status, 0, resent.stderr);
    assert.equal(node.store.getInstance(sopOf(kept))?.receiveCount, 2);
    assert.equal(sha256(path.join(data, keptRecord?.file as string)), keptHash, 'the stored file is unchanged');
    await waitFor('the kept image inferred', () => (node.store.resultsOfStudy(keptRecord?.studyInstanceUid as string).length > 0 ? true : undefined), 60_000);

    rmSync(filler);
    const back = await storescu(node, [refusedFile, later]);
    assert.equal(back.status, 0, back.stderr);
    assert.equal(node.store.getInstance(sopOf(refusedFile))?.status, 'stored', 'accepted again once space is back');
    assert.equal(node.store.getInstance(sopOf(later))?.status, 'stored');
    assert.equal(sha256(path.join(data, keptRecord?.file as string)), keptHash);
  });

  test('a hip-crop model with a localiser in its checkpoint is served: each image is cut to the localiser\'s region', async () => {
    const model = path.join(fx.dir, 'roi-model');
    cpSync(fx.modelDir, model, { recursive: true });
    const trained = spawnSync(process.execPath, [ADD_LOCALISER, model, path.join(fx.dir, 'cohort', 'labels.csv'), path.join(fx.dir, 'roi-png'), ...fx.files, ...fx.files], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(trained.status, 0, trained.stderr);
    const card = JSON.parse(readFileSync(path.join(model, 'model.json'), 'utf8')) as { crop: string; localiser?: unknown };
    assert.equal(card.crop, 'roi');
    assert.notEqual(card.localiser, undefined);
    const { node, data } = await start('roi', { modelDir: model, heatmaps: 'all' });
    const file = fx.files[0] as string;
    const r = await storescu(node, [file]);
    assert.equal(r.status, 0, r.stderr);
    const sop = sopOf(file);
    const study = node.store.getInstance(sop)?.studyInstanceUid as string;
    const result = await waitFor('the image inferred', () => node.store.resultsOfStudy(study).find((x) => x.sopInstanceUid === sop), 120_000);
    assert.ok(result.fractureProbability !== null && result.fractureProbability >= 0 && result.fractureProbability <= 1);
    // The heatmap overlay is drawn on what the model saw: the region, smaller than the 128 px phantom image.
    const overlay = decode(readFileSync(path.join(data, result.heatmap)));
    assert.ok(overlay.width < 128 || overlay.height < 128, `overlay ${overlay.width}x${overlay.height} is the cut region`);
  });
});

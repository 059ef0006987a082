// Fracture boxes on the DICOM node with real parts: the serve tests' tiny model given a box head whose output is
// known (zero weights, bias 2: every cell at sigmoid(2) = 0.8808, one box over the whole image the model sees),
// images C-STORE'd with dcmtk's storescu. The API shows the box in the source image's pixels (mapped back through
// a hip localiser's crop), the Secondary Capture shows its outline at the right place of the resized image and
// passes dciodvfy, the SR holds it as a SCOORD region of the image; images auto-reported as intact get no box pass;
// the same model without a box head gives no boxes and an SC with no outline.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dcmjs from 'dcmjs';
import { decode } from 'fast-png';
import type { RunningNode } from '../../src/serve/index.js';
import { heatmapLayerPath } from '../../src/serve/infer/heatmapFiles.js';
import { givenCutoffPolicy, policyToJson } from '../../src/triage/index.js';
import { dciodvfyErrors } from '../dicom/fixtures.js';
import { needs } from '../helpers/references.js';
import { makeFixture, runTool, startNode, waitFor, type Fixture } from './fixtures.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIAS = 2;
const SCORE = Math.round(1e4 / (1 + Math.exp(-BIAS))) / 1e4;

interface ImageJson { sopInstanceUid: string; decision: string | null; predicted: string | null; boxes: { box: number[]; score: number }[] | null }

const dicomNumber = (file: string, keyword: 'Rows' | 'Columns'): number => Number(/ US (\d+)/.exec(spawnSync('dcmdump', ['+P', keyword, file], { encoding: 'utf8' }).stdout)?.[1]);
const sopOf = (file: string): string => /\(0008,0018\) UI \[([^\]]+)\]/.exec(spawnSync('dcmdump', ['+P', 'SOPInstanceUID', file], { encoding: 'utf8' }).stdout)?.[1] as string;

/** The Secondary Capture's RGB pixels. */
function scPixels(file: string): { width: number; height: number; rgb: Uint8Array } {
  const bytes = readFileSync(file);
  const dict = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) as { Rows: number; Columns: number; SamplesPerPixel: number; PixelData: ArrayBuffer[] };
  assert.equal(ds.SamplesPerPixel, 3);
  return { width: ds.Columns, height: ds.Rows, rgb: new Uint8Array(ds.PixelData[0] as ArrayBuffer) };
}
const isBoxColour = (sc: { width: number; rgb: Uint8Array }, x: number, y: number): boolean => {
  const i = 3 * (y * sc.width + x);
  return (sc.rgb[i] as number) > 200 && (sc.rgb[i + 1] as number) < 60 && (sc.rgb[i + 2] as number) > 200;
};

/** Asserts the outline of a box covering the SC's whole image area (its top `imageHeight` rows): edges in the box colour, the middle not. */
function assertWholeImageOutline(sc: { width: number; height: number; rgb: Uint8Array }, imageHeight: number): void {
  const t = Math.max(2, Math.round(sc.width / 256));
  for (let x = 60; x < sc.width - 5; x += 9) {
    for (let k = 0; k < t; k++) {
      assert.ok(isBoxColour(sc, x, k), `top edge (${x}, ${k})`);
      assert.ok(isBoxColour(sc, x, imageHeight - 1 - k), `bottom edge (${x}, ${imageHeight - 1 - k})`);
    }
  }
  for (let y = 0; y < imageHeight; y += 9) {
    for (let k = 0; k < t; k++) {
      assert.ok(isBoxColour(sc, k, y), `left edge (${k}, ${y})`);
      assert.ok(isBoxColour(sc, sc.width - 1 - k, y), `right edge (${sc.width - 1 - k}, ${y})`);
    }
  }
  let inside = 0;
  for (let y = Math.round(imageHeight / 4); y < Math.round((3 * imageHeight) / 4); y += 3) for (let x = Math.round(sc.width / 4); x < Math.round((3 * sc.width) / 4); x += 3) if (isBoxColour(sc, x, y)) inside++;
  assert.equal(inside, 0, 'no outline inside the box');
  // The banner below the image is not part of the box.
  assert.ok(!isBoxColour(sc, sc.width - 4, imageHeight + 2));
}

describe('fracture boxes from a box head on the DICOM node', needs('dcmtk', 'dicom3tools'), () => {
  let fx: Fixture;
  let boxModel: string;
  const stops: (() => Promise<void> | void)[] = [];

  before(async () => {
    fx = await makeFixture(2, 5);
    boxModel = path.join(fx.dir, 'model-box');
    const r = spawnSync(process.execPath, [path.join(HERE, 'addBoxHead.js'), fx.modelDir, boxModel, String(BIAS), '0.5'], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop();
    fx?.cleanup();
  });

  /** Starts a node on `modelDir` (heatmaps for every image, so every image gets a Secondary Capture), sends `file`, waits for its study's decision. */
  const serveOne = async (name: string, modelDir: string, file: string): Promise<{ node: RunningNode; data: string; image: ImageJson; sc: string }> => {
    const data = path.join(fx.dir, name);
    const node = await startNode({ ...fx, modelDir }, data, { heatmaps: 'all' });
    stops.push(() => node.close());
    const sent = await runTool('storescu', ['-xr', '-aet', 'STORESCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort), file]);
    assert.equal(sent.status, 0, sent.stderr);
    const sop = sopOf(file);
    const study = await waitFor('the image stored', () => node.store.getInstance(sop)?.studyInstanceUid, 30_000);
    await waitFor('the study decided', () => (node.store.getStudy(study)?.decision ?? null) !== null || undefined, 180_000);
    const token = node.store.createToken('reader', ['read']).token;
    const response = await fetch(`http://127.0.0.1:${node.httpPort}/v1/studies/${encodeURIComponent(study)}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
    const image = ((await response.json()) as { images: ImageJson[] }).images.find((i) => i.sopInstanceUid === sop) as ImageJson;
    const scs = readdirSync(path.join(data, 'results'), { recursive: true, encoding: 'utf8' }).filter((f) => path.basename(f).startsWith('sc-'));
    assert.equal(scs.length, 1, 'one Secondary Capture (heatmaps: all)');
    return { node, data, image, sc: path.join(data, 'results', scs[0] as string) };
  };

  test('a checkpoint with a box head: the API shows the box in source pixels with its score, the SC outlines it at its scale, the SR holds it as a region; both pass dciodvfy', async () => {
    const file = fx.files[0] as string;
    const [rows, columns] = [dicomNumber(file, 'Rows'), dicomNumber(file, 'Columns')];
    assert.ok(rows > 0 && columns > 0);
    const { data, image, sc } = await serveOne('box', boxModel, file);
    assert.deepEqual(image.boxes, [{ box: [0, 0, columns, rows], score: SCORE }], 'one box over the whole image, in its pixels');
    const pixels = scPixels(sc);
    const scale = columns < 512 ? 512 / columns : 1;
    assert.equal(pixels.width, Math.round(columns * scale));
    assertWholeImageOutline(pixels, Math.round(rows * scale));
    assert.deepEqual(dciodvfyErrors(sc), []);
    assert.match(spawnSync('dcmdump', ['+L', '+P', 'DerivationDescription', sc], { encoding: 'utf8' }).stdout, /predicted fracture boxes/);
    // The study's SR carries the box as a region of the image: its score inferred from a closed POLYLINE.
    const srs = readdirSync(path.join(data, 'results'), { recursive: true, encoding: 'utf8' }).filter((f) => path.basename(f).startsWith('sr-'));
    assert.equal(srs.length, 1);
    const sr = path.join(data, 'results', srs[0] as string);
    const dump = spawnSync('dsrdump', ['+Pl', sr], { encoding: 'utf8' });
    assert.equal(dump.status, 0, dump.stderr);
    assert.ok(dump.stdout.includes(`"Fracture region score")="${SCORE.toFixed(4)}"`), dump.stdout);
    assert.ok(dump.stdout.includes(`(POLYLINE,0/0,${columns}/0,${columns}/${rows},0/${rows},0/0)`), dump.stdout);
    assert.deepEqual(dciodvfyErrors(sr), []);
  });

  test('a model cut to the hip by its localiser: the box is mapped back through the crop origin', async () => {
    const roiModel = path.join(fx.dir, 'model-box-roi');
    cpSync(boxModel, roiModel, { recursive: true });
    const trained = spawnSync(process.execPath, [path.join(HERE, 'addLocaliser.js'), roiModel, path.join(fx.dir, 'cohort', 'labels.csv'), path.join(fx.dir, 'roi-png'), ...fx.files, ...fx.files], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(trained.status, 0, trained.stderr);
    const file = fx.files[0] as string;
    const { node, data, image, sc } = await serveOne('box-roi', roiModel, file);
    const result = node.store.resultsOfStudy(node.store.getInstance(sopOf(file))?.studyInstanceUid as string)[0];
    assert.ok(result !== undefined && result.heatmap !== '');
    const overlay = decode(readFileSync(path.join(data, result.heatmap)));
    assert.ok(overlay.width < dicomNumber(file, 'Columns') || overlay.height < dicomNumber(file, 'Rows'), 'the model saw a crop');
    const [ox, oy] = result.regionOrigin;
    assert.deepEqual(image.boxes, [{ box: [ox, oy, ox + overlay.width, oy + overlay.height].map((v) => Math.round(v * 10) / 10), score: SCORE }], 'the crop, in the source image\'s pixels');
    // The SC shows the crop: the box outlines its whole image area.
    const pixels = scPixels(sc);
    const scale = overlay.width < 512 ? 512 / overlay.width : 1;
    assertWholeImageOutline(pixels, Math.round(overlay.height * scale));
    // The review viewer's layer covers the whole radiograph, its heat only on the crop.
    const [columns, rows] = [dicomNumber(file, 'Columns'), dicomNumber(file, 'Rows')];
    const layer = decode(readFileSync(path.join(data, heatmapLayerPath(result.heatmap))));
    const k = Math.min(1, 512 / Math.max(columns, rows));
    assert.deepEqual([layer.width, layer.height], [Math.round(columns * k), Math.round(rows * k)], 'the whole radiograph\'s size');
    const [x0, y0, x1, y1] = [ox * k, oy * k, (ox + overlay.width) * k, (oy + overlay.height) * k];
    let outside = 0;
    for (let y = 0; y < layer.height; y++) {
      for (let x = 0; x < layer.width; x++) {
        const clear = x < Math.floor(x0) - 1 || x > Math.ceil(x1) + 1 || y < Math.floor(y0) - 1 || y > Math.ceil(y1) + 1;
        if (clear && (layer.data[4 * (y * layer.width + x) + 3] as number) > 0) outside++;
      }
    }
    assert.equal(outside, 0, 'no heat outside the crop');
  });

  test('the same model without a box head: no boxes in the API, no outline on the SC', async () => {
    const { image, sc } = await serveOne('plain', fx.modelDir, fx.files[0] as string);
    assert.equal(image.boxes, null);
    const pixels = scPixels(sc);
    let outlined = 0;
    for (let y = 0; y < pixels.height; y++) for (let x = 0; x < pixels.width; x++) if (isBoxColour(pixels, x, y)) outlined++;
    assert.equal(outlined, 0);
    assert.deepEqual(dciodvfyErrors(sc), []);
  });

  test('with heatmaps for review only, boxes are computed for images predicted fracture and for none auto-reported as intact', async () => {
    // A cut-off of 0.5 auto-reports every image (a two-class confidence is at least 0.5): none goes to review.
    const autoModel = path.join(fx.dir, 'model-box-auto');
    cpSync(boxModel, autoModel, { recursive: true });
    const card = JSON.parse(readFileSync(path.join(autoModel, 'model.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(autoModel, 'model.json'), JSON.stringify({ ...card, threshold: policyToJson(givenCutoffPolicy(0.5)) }));
    const data = path.join(fx.dir, 'box-auto');
    const node = await startNode({ ...fx, modelDir: autoModel }, data, { heatmaps: 'review' });
    stops.push(() => node.close());
    const sent = await runTool('storescu', ['-xr', '-aet', 'STORESCU', '-aec', 'HIPFRAC', '127.0.0.1', String(node.dicomPort), ...fx.files]);
    assert.equal(sent.status, 0, sent.stderr);
    const studies = await waitFor('every image stored', () => {
      const uids = fx.files.map((f) => node.store.getInstance(sopOf(f))?.studyInstanceUid);
      return uids.every((u) => u !== undefined) ? [...new Set(uids as string[])] : undefined;
    }, 30_000);
    const token = node.store.createToken('reader', ['read']).token;
    const images: ImageJson[] = [];
    for (const study of studies) {
      await waitFor('the study decided', () => (node.store.getStudy(study)?.decision ?? null) !== null || undefined, 180_000);
      const response = await fetch(`http://127.0.0.1:${node.httpPort}/v1/studies/${encodeURIComponent(study)}`, { headers: { authorization: `Bearer ${token}` } });
      images.push(...((await response.json()) as { images: ImageJson[] }).images);
    }
    assert.equal(images.length, fx.files.length);
    for (const image of images) {
      assert.equal(image.decision, 'auto-report');
      if (image.predicted === 'fracture') assert.deepEqual(image.boxes, [{ box: image.boxes?.[0]?.box, score: SCORE }], 'predicted fracture: boxes');
      else assert.equal(image.boxes, null, 'auto-reported as intact: no box pass');
    }
    console.log(`${images.filter((i) => i.predicted === 'fracture').length} of ${images.length} images predicted fracture`);
  });
});

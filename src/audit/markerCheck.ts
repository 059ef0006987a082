// The marker detector checked against known markers: the phantom's annotations.json says where each image's lead
// letter, ruler and calibration ball lie; precision and recall of detectMarkers follow, per kind too.
import { readFileSync } from 'node:fs';
import { cachedPngPath, decodeGrey, detectMarkers, type ManifestRow } from '../data/index.js';
import { AuditError } from './errors.js';

type PixelBox = readonly [number, number, number, number];

/** Truth markers per image file (as annotations.json names it, relative to the cohort folder), in source pixels. */
export function readMarkerTruth(file: string): Map<string, { kind: string; box: PixelBox }[]> {
  let doc: { images?: { file?: unknown; markers?: { kind?: unknown; box?: unknown }[] }[] };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as typeof doc;
  } catch (cause) {
    throw new AuditError('HF_AUDIT_BAD_TRUTH', `the marker-truth file cannot be read as JSON (${(cause as Error).message}).`, { input: file, fix: "pass a phantom cohort's annotations.json (`hipfrac phantom` writes it)." });
  }
  if (!Array.isArray(doc.images) || !doc.images.some((i) => Array.isArray(i.markers))) {
    throw new AuditError('HF_AUDIT_BAD_TRUTH', 'the file lists no images with "markers".', { input: file, fix: "pass a phantom cohort's annotations.json written by this version of `hipfrac phantom`." });
  }
  const out = new Map<string, { kind: string; box: PixelBox }[]>();
  for (const image of doc.images) {
    if (typeof image.file !== 'string' || !Array.isArray(image.markers)) continue;
    out.set(
      image.file,
      image.markers.filter((m): m is { kind: string; box: PixelBox } => typeof m.kind === 'string' && Array.isArray(m.box) && m.box.length === 4),
    );
  }
  return out;
}

export interface MarkerCheck {
  readonly images: number;
  readonly truthMarkers: number;
  readonly detected: number;
  /** Detected components that overlap a true marker, over all detected components. */
  readonly precision: number;
  /** True markers overlapped by at least one detected component, over all true markers. */
  readonly recall: number;
  readonly recallByKind: Record<string, { found: number; of: number }>;
}

const overlaps = (a: PixelBox, b: PixelBox): boolean => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];

/** The truth entry of a row: annotations name files from the cohort folder, the manifest from the import root. */
function truthOf(truth: Map<string, { kind: string; box: PixelBox }[]>, row: ManifestRow): { kind: string; box: PixelBox }[] | undefined {
  return truth.get(row.sourcePath) ?? [...truth.entries()].find(([file]) => file.endsWith(`/${row.sourcePath}`))?.[1];
}

/** Runs the detector on each row's cached image (its own resolution) and scores it against the truth. */
export async function checkMarkerDetector(datasetDir: string, rows: readonly ManifestRow[], truth: Map<string, { kind: string; box: PixelBox }[]>): Promise<MarkerCheck> {
  let images = 0;
  let truthMarkers = 0;
  let detected = 0;
  let correct = 0;
  let found = 0;
  const byKind: Record<string, { found: number; of: number }> = {};
  for (const row of rows) {
    const markers = truthOf(truth, row);
    if (markers === undefined) continue;
    images++;
    const [w, h] = [row.cacheWidth, row.cacheHeight];
    const plane = Float32Array.from(await decodeGrey(cachedPngPath(datasetDir, row), { width: w, height: h }, 'squish', null), (v) => v / 65535);
    const { components } = detectMarkers(plane, w, h);
    const [sx, sy] = [w / row.width, h / row.height];
    const boxes = markers.map((m) => ({ kind: m.kind, box: [m.box[0] * sx, m.box[1] * sy, m.box[2] * sx, m.box[3] * sy] as const }));
    detected += components.length;
    correct += components.filter((c) => boxes.some((m) => overlaps(c.box, m.box))).length;
    for (const m of boxes) {
      const hit = components.some((c) => overlaps(c.box, m.box));
      truthMarkers++;
      if (hit) found++;
      const k = (byKind[m.kind] ??= { found: 0, of: 0 });
      k.of++;
      if (hit) k.found++;
    }
  }
  return { images, truthMarkers, detected, precision: detected > 0 ? correct / detected : Number.NaN, recall: truthMarkers > 0 ? found / truthMarkers : Number.NaN, recallByKind: byKind };
}

// The radiographs a command runs a model on (predict, explain, attack, triage-calibrate): collecting a file or a
// folder of DICOM/PNG/JPEG, reading each at its own resolution (cut to its hip region for crop-trained models) and
// resizing a batch to the model's input.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { readDicom } from '../dicom/index.js';
import { tensor, type Tensor } from '../torch/index.js';
import type { GreyImage } from './cache.js';
import { DataError } from './errors.js';
import { cropGrey, resampleGrey, type RegionOfInterest } from './imageIo.js';
import { lateralityFromHeader, viewFromHeader } from './importers.js';
import type { View } from './manifest.js';
import { readRoisCsv } from './rois.js';

const IMAGE_EXTENSIONS = new Set(['.dcm', '.dicom', '.png', '.jpg', '.jpeg']);

function isDicomFile(file: string): boolean {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.dcm' || ext === '.dicom') return true;
  if (ext !== '') return false;
  // Files without extension (as PACS exports them): the "DICM" magic after the 128-byte preamble.
  const fd = openSync(file, 'r');
  try {
    const magic = Buffer.alloc(4);
    return readSync(fd, magic, 0, 4, 128) === 4 && magic.toString('latin1') === 'DICM';
  } finally {
    closeSync(fd);
  }
}

/** The radiographs named by a file or a folder (not recursive), sorted. Throws HF_DATA_INPUT_MISSING. */
export function collectInputs(target: string): string[] {
  if (!existsSync(target)) throw new DataError('HF_DATA_INPUT_MISSING', 'the input does not exist.', { input: target, fix: 'give a DICOM/PNG/JPEG file or a folder of them.' });
  if (!statSync(target).isDirectory()) {
    const ext = path.extname(target).toLowerCase();
    if (!IMAGE_EXTENSIONS.has(ext) && !(ext === '' && isDicomFile(target))) {
      throw new DataError('HF_DATA_INPUT_UNREADABLE', `'${ext || 'no extension'}' is not a radiograph file type.`, { input: target, fix: 'give a .dcm/.dicom (or extension-less DICOM), .png, .jpg or .jpeg file, or a folder of them.' });
    }
    return [target];
  }
  const files = readdirSync(target)
    .map((name) => path.join(target, name))
    .filter((f) => statSync(f).isFile() && (IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase()) || (path.extname(f) === '' && isDicomFile(f))))
    .sort();
  if (files.length === 0) throw new DataError('HF_DATA_INPUT_MISSING', 'the folder holds no DICOM, PNG or JPEG files.', { input: target, fix: 'point at the folder that holds the radiographs (not recursive).' });
  return files;
}

export interface Radiograph {
  readonly file: string;
  /** File name without folder, the case key in outputs. */
  readonly key: string;
  /** At the file's own resolution, 16-bit grey (MONOCHROME2 display values for DICOM); the region only, when cut. */
  readonly original: GreyImage & { readonly maxValue: number };
  /** Where `original` starts in the file's pixels when it was cut to a region of interest. */
  readonly origin?: readonly [number, number];
  /** The file's own width and height when `original` was cut to a region of interest. */
  readonly sourceSize?: readonly [number, number];
  /** The side imaged, from the DICOM header (Image Laterality, Laterality, descriptions); null when unknown or not DICOM. */
  readonly laterality: 'L' | 'R' | 'B' | null;
  /** The view from the DICOM header (View Position, descriptions); 'unknown' when not DICOM. */
  readonly view: View;
  /**
   * Both hips of a bilateral view, when the localiser found two and both were classified: where each crop starts
   * and its P(fracture). `original` and `origin` are the more suspicious one's.
   */
  readonly hips?: readonly { readonly origin: readonly [number, number]; readonly fractureProbability: number }[];
}

/** P(fracture) of each of a radiograph's candidate crops (the classifier's forward pass), in their order. */
export type CropScorer = (crops: readonly Radiograph[]) => readonly number[] | Promise<readonly number[]>;

/** Reads one DICOM (display pipeline of src/dicom) or PNG/JPEG (as 16-bit grey) at its own resolution. */
export async function readRadiograph(file: string): Promise<Radiograph> {
  const key = path.basename(file);
  if (isDicomFile(file)) {
    const image = await readDicom(file);
    return { file, key, original: { width: image.width, height: image.height, data: image.display, maxValue: 65535 }, laterality: lateralityFromHeader(image.header), view: viewFromHeader(image.header).view };
  }
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    decoded = await sharp(file).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw new DataError('HF_DATA_INPUT_UNREADABLE', `cannot decode the image: ${(cause as Error).message}`, { input: file, fix: 'give a DICOM, PNG or JPEG file.', cause });
  }
  const { width, height } = decoded.info;
  const data = new Uint16Array(width * height);
  data.set(new Uint16Array(decoded.data.buffer, decoded.data.byteOffset, width * height));
  return { file, key, original: { width, height, data, maxValue: 65535 }, laterality: null, view: 'unknown' };
}

/** Grey [N, 1, size, size] in [0, 1], each image squished to size × size: what an exported ONNX graph takes. */
export function greyModelInput(radiographs: readonly Radiograph[], size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(radiographs.length * plane);
  radiographs.forEach((r, i) => {
    const resized = resampleGrey(r.original.data, r.original.width, r.original.height, { width: size, height: size }, 'squish');
    for (let p = 0; p < plane; p++) out[i * plane + p] = (resized[p] as number) / 65535;
  });
  return out;
}

/** Images resized ('squish', the study's choice) to the model's input, [N, 3, size, size] in [0, 1]. */
export function modelInput(radiographs: readonly Radiograph[], size: number): Tensor {
  const plane = size * size;
  const grey = greyModelInput(radiographs, size);
  const out = new Float32Array(radiographs.length * 3 * plane);
  for (let i = 0; i < radiographs.length; i++) {
    const image = grey.subarray(i * plane, (i + 1) * plane);
    for (let c = 0; c < 3; c++) out.set(image, (i * 3 + c) * plane);
  }
  return tensor(out, [radiographs.length, 3, size, size]);
}

/**
 * How a command reads its inputs for a checkpoint: as they are, or — for a model trained on hip crops (its card's
 * crop is 'roi') — cut to each file's region from the ROI CSV, so the model sees what it was trained on and the
 * heatmap overlays show that region. Throws HF_DATA_NEEDS_ROI when a crop-trained model gets no ROI file.
 * `score` (the classifier's P(fracture) per crop) decides between the two hips of a bilateral view.
 */
export function radiographReader(
  card: { readonly crop?: string | undefined },
  roisFile: string | undefined,
  locate?: (image: Radiograph['original'], known: Pick<Radiograph, 'laterality' | 'view'>) => readonly RegionOfInterest[],
  score?: CropScorer,
): (file: string) => Promise<Radiograph> {
  if (card.crop !== 'roi') return readRadiograph;
  // Without --rois, a checkpoint's hip localiser (passed in as `locate`) finds each region; for a bilateral view it
  // finds both hips, and with a scorer both are classified and the more suspicious is kept (without one, the first).
  if (roisFile === undefined && locate !== undefined) {
    return async (file) => {
      const whole = await readRadiograph(file);
      const regions = locate(whole.original, whole);
      const crops = regions.map((region) => cutTo(whole, () => region));
      if (crops.length < 2 || score === undefined) return crops[0] as Radiograph;
      const p = await score(crops);
      const kept = p.reduce((best, v, i) => (v > (p[best] as number) ? i : best), 0);
      return { ...(crops[kept] as Radiograph), hips: crops.map((c, i) => ({ origin: c.origin ?? [0, 0], fractureProbability: p[i] as number })) };
    };
  }
  if (roisFile === undefined) {
    throw new DataError('HF_DATA_NEEDS_ROI', 'this model was trained on hip regions of interest (crop: roi) and needs one per image.', {
      fix: 'pass --rois FILE: a CSV with file and hip_roi_x0, hip_roi_y0, hip_roi_x1, hip_roi_y1 in pixels (the phantom labels.csv has them), or train the checkpoint with a hip localiser.',
    });
  }
  const rois = readRoisCsv(roisFile);
  return async (file: string): Promise<Radiograph> => {
    // The row naming the longest tail of the input's path (a relative path or a bare file name) wins.
    const parts = file.split(path.sep);
    const box = parts.map((_, i) => rois.get(parts.slice(i).join('/'))).find((b) => b !== undefined);
    if (box === undefined) throw new DataError('HF_DATA_NEEDS_ROI', 'no region of interest for this image in the --rois file.', { input: file, fix: `add a row for it to ${roisFile}.` });
    return cutTo(await readRadiograph(file), ({ width, height }) => [box[0] / width, box[1] / height, box[2] / width, box[3] / height]);
  };
}

/** The radiograph cut to a region (fractions of the image) chosen from its whole image. */
function cutTo(r: Radiograph, regionOf: (image: Radiograph['original'], known: Pick<Radiograph, 'laterality' | 'view'>) => RegionOfInterest): Radiograph {
  const { width, height } = r.original;
  const region = regionOf(r.original, r);
  const cut = cropGrey(r.original.data, width, height, region);
  return { ...r, original: { width: cut.width, height: cut.height, data: cut.pixels, maxValue: r.original.maxValue }, origin: [Math.round(region[0] * width), Math.round(region[1] * height)], sourceSize: [width, height] };
}

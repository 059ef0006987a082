// One radiograph as the models see it: a DICOM (src/dicom's display pipeline) or PNG/JPEG read as 16-bit grey at
// its own resolution, and a batch of them as the model's input tensor. Shared by predict, explain, attack, triage and serve.
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { readDicom } from '../dicom/index.js';
import { tensor, type Tensor } from '../torch/index.js';
import { HipfracError } from '../util/index.js';
import { resampleGrey } from './imageIo.js';

/** Whether a file is DICOM: by extension (.dcm, .dicom), or for a file without one by the "DICM" magic. */
export function isDicomFile(file: string): boolean {
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

export interface Radiograph {
  readonly file: string;
  /** File name without folder, the case key in outputs. */
  readonly key: string;
  /** At the file's own resolution, 16-bit grey (MONOCHROME2 display values for DICOM); the region only, when cut. */
  readonly original: { readonly width: number; readonly height: number; readonly data: Uint16Array; readonly maxValue: number };
  /** Where `original` starts in the file's pixels when it was cut to a region of interest. */
  readonly origin?: readonly [number, number];
}

/** Reads one DICOM (display pipeline of src/dicom) or PNG/JPEG (as 16-bit grey) at its own resolution. */
export async function readRadiograph(file: string): Promise<Radiograph> {
  const key = path.basename(file);
  if (isDicomFile(file)) {
    const image = await readDicom(file);
    return { file, key, original: { width: image.width, height: image.height, data: image.display, maxValue: 65535 } };
  }
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    decoded = await sharp(file).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw new HipfracError('HF_CLI_INPUT_UNREADABLE', `cannot decode the image: ${(cause as Error).message}`, { input: file, fix: 'give a DICOM, PNG or JPEG file.', cause });
  }
  const { width, height } = decoded.info;
  const data = new Uint16Array(width * height);
  data.set(new Uint16Array(decoded.data.buffer, decoded.data.byteOffset, width * height));
  return { file, key, original: { width, height, data, maxValue: 65535 } };
}

/** Images resized ('squish', the study's choice) to the model's input, [N, 3, size, size] in [0, 1]. */
export function modelInput(radiographs: readonly Radiograph[], size: number): Tensor {
  const plane = size * size;
  const out = new Float32Array(radiographs.length * 3 * plane);
  radiographs.forEach((r, i) => {
    const resized = resampleGrey(r.original.data, r.original.width, r.original.height, { width: size, height: size }, 'squish');
    for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) out[(i * 3 + c) * plane + p] = (resized[p] as number) / 65535;
  });
  return tensor(out, [radiographs.length, 3, size, size]);
}

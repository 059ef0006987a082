// The loader's worker thread: decodes the image files it is sent to 16-bit grey pixels at the input size
// and posts them back in one transferred buffer. It needs no tensor engine, only sharp.
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { decodeGrey, type RegionOfInterest, type ResizeMethod } from './imageIo.js';

/** A request from the loader: decode `paths` in order. */
export interface DecodeRequest {
  readonly id: number;
  readonly paths: readonly string[];
  /** Per path: the region to cut out before resizing, or null for the whole image. */
  readonly regions: readonly (RegionOfInterest | null)[];
  readonly height: number;
  readonly width: number;
  readonly method: ResizeMethod;
  /** Fill burned-in markers with local background before resizing (training with --mask-markers). */
  readonly maskMarkers: boolean;
}

/** The answer: every image's pixels one after the other (height × width values each), or the first failure. */
export type DecodeResponse =
  | { readonly id: number; readonly ok: true; readonly pixels: Uint16Array }
  | { readonly id: number; readonly ok: false; readonly path: string; readonly reason: string };

// Each worker decodes one image at a time; parallelism comes from the number of workers, which the loader
// chooses, so libvips must not start its own threads per image on top (2 workers × N threads on 2 cores).
sharp.concurrency(1);
sharp.cache(false);

const port = parentPort;
if (port === null) throw new Error('loaderWorker.js must run as a worker thread (it is started by ImageLoader).');

port.on('message', (request: DecodeRequest) => {
  void decodeAll(request).then((response) => {
    if (response.ok) port.postMessage(response, [response.pixels.buffer as ArrayBuffer]);
    else port.postMessage(response);
  });
});

async function decodeAll(request: DecodeRequest): Promise<DecodeResponse> {
  const size = { height: request.height, width: request.width };
  const plane = size.height * size.width;
  const pixels = new Uint16Array(plane * request.paths.length);
  for (let i = 0; i < request.paths.length; i++) {
    const path = request.paths[i] as string;
    try {
      pixels.set(await decodeGrey(path, size, request.method, request.regions[i] ?? null, { maskMarkers: request.maskMarkers }), i * plane);
    } catch (error) {
      // Errors do not cross threads with their class: send the parts, the loader rebuilds the coded error.
      const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      return { id: request.id, ok: false, path, reason };
    }
  }
  return { id: request.id, ok: true, pixels };
}

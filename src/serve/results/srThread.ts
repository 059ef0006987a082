// The SR writer's thread: reads the source image's header (dcmjs, about a millisecond) and encodes the study's SR
// (src/dicom's direct encoder, under a millisecond), so that the node's event loop keeps receiving meanwhile.
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { buildTriageSr } from '../../dicom/index.js';
import { describeError } from '../../util/index.js';
import { resultContext, sourceHeader } from './sourceHeader.js';
import type { SrThreadReply, SrThreadRequest } from './srWriter.js';

if (parentPort === null) throw new Error('srThread.ts runs as a worker thread started by SrWriter');
const port = parentPort;

port.on('message', (request: SrThreadRequest) => {
  void (async (): Promise<SrThreadReply> => {
    try {
      const source = sourceHeader(await readFile(request.sourceFile));
      if (request.kind === 'header') return { id: request.id, ok: true, header: resultContext(source) };
      const sr = buildTriageSr({ ...request.input, source });
      return { id: request.id, ok: true, bytes: sr };
    } catch (error) {
      return { id: request.id, ok: false, message: describeError(error) };
    }
  })().then((reply) => port.postMessage(reply));
});

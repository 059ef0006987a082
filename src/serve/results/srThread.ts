// The SR writer's thread: reads the source image's header (the bytes before its pixels; sourceHeader.ts) and
// encodes the study's SR (src/dicom's direct encoder, under a millisecond), so that the node's event loop keeps
// receiving meanwhile.
import { parentPort } from 'node:worker_threads';
import { buildTriageSr } from '../../dicom/index.js';
import { describeError } from '../../util/index.js';
import { readSourceHeader, readSrSource, resultContext } from './sourceHeader.js';
import type { SrThreadReply, SrThreadRequest } from './srWriter.js';

if (parentPort === null) throw new Error('srThread.ts runs as a worker thread started by SrWriter');
const port = parentPort;

port.on('message', (request: SrThreadRequest) => {
  let reply: SrThreadReply;
  try {
    reply = request.kind === 'header'
      ? { id: request.id, ok: true, header: resultContext(readSourceHeader(request.sourceFile)) }
      : { id: request.id, ok: true, bytes: buildTriageSr({ ...request.input, source: readSrSource(request.sourceFile) }) };
  } catch (error) {
    reply = { id: request.id, ok: false, message: describeError(error) };
  }
  port.postMessage(reply);
});

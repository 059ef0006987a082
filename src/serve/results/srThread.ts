// The SR writer's thread: reads the source image's header (the bytes before its pixels, through dcmjs) and
// encodes the study's SR (src/dicom's direct encoder, under a millisecond), so that the node's event loop keeps
// receiving meanwhile.
import { parentPort } from 'node:worker_threads';
import { buildTriageSr } from '../../dicom/index.js';
import { describeError } from '../../util/index.js';
import { readSourceHeader, resultContext } from './sourceHeader.js';
import type { SrThreadReply, SrThreadRequest } from './srWriter.js';

if (parentPort === null) throw new Error('srThread.ts runs as a worker thread started by SrWriter');
const port = parentPort;

port.on('message', (request: SrThreadRequest) => {
  let reply: SrThreadReply;
  try {
    const source = readSourceHeader(request.sourceFile);
    reply = request.kind === 'header' ? { id: request.id, ok: true, header: resultContext(source) } : { id: request.id, ok: true, bytes: buildTriageSr({ ...request.input, source }) };
  } catch (error) {
    reply = { id: request.id, ok: false, message: describeError(error) };
  }
  port.postMessage(reply);
});

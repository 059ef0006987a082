// DICOMweb STOW-RS: `POST /dicomweb/studies` with multipart/related; type="application/dicom". Each part goes
// through the same ingest as C-STORE; the answer lists stored (00081199) and failed (00081198) instances.
import type { FastifyInstance } from 'fastify';
import type { Ingest, IngestOutcome } from '../receive/ingest.js';
import { requestActor } from './auth.js';
import type { HttpContext } from './app.js';

/** The bodies of a multipart/related payload (headers stripped). */
export function multipartParts(body: Buffer, boundary: string): Buffer[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const afterDelimiter = start + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, afterDelimiter);
    if (next < 0) break;
    const part = body.subarray(afterDelimiter, next);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd >= 0) {
      let content = part.subarray(headerEnd + 4);
      if (content.subarray(content.length - 2).toString() === '\r\n') content = content.subarray(0, content.length - 2);
      parts.push(content);
    }
    start = next;
  }
  return parts;
}

const FAILURE_REASON: Readonly<Record<string, number>> = { 'too-large': 0xa700, 'disk-full': 0xa700, unreadable: 0xc000, 'store-failed': 0x0110 };

function sopItem(classUid: string | undefined, instanceUid: string | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    '00081150': { vr: 'UI', Value: classUid === undefined ? [] : [classUid] },
    '00081155': { vr: 'UI', Value: instanceUid === undefined ? [] : [instanceUid] },
    ...extra,
  };
}

export function stowPlugin(ingest: Ingest) {
  return (app: FastifyInstance, context: HttpContext): void => {
    app.addContentTypeParser('multipart/related', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    app.post('/dicomweb/studies', { preHandler: context.requireScope('admin') }, async (request, reply) => {
      const type = request.headers['content-type'] ?? '';
      const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
      if (!/^multipart\/related/i.test(type) || boundary === undefined || !(request.body instanceof Buffer)) {
        return reply.code(415).send({ error: 'unsupported-media-type', message: 'send multipart/related; type="application/dicom" with a boundary.' });
      }
      const source = requestActor(request);
      const outcomes: IngestOutcome[] = [];
      for (const part of multipartParts(request.body, boundary)) outcomes.push(await ingest.accept(part, source));
      const stored = outcomes.filter((o) => o.kind !== 'refused');
      const failed = outcomes.filter((o) => o.kind === 'refused');
      const body: Record<string, unknown> = {
        '00081199': { vr: 'SQ', Value: stored.map((o) => sopItem(o.sopClassUid, o.sopInstanceUid)) },
      };
      if (failed.length > 0) {
        body['00081198'] = { vr: 'SQ', Value: failed.map((o) => sopItem(o.sopClassUid, o.sopInstanceUid, { '00081197': { vr: 'US', Value: [o.kind === 'refused' ? FAILURE_REASON[o.code] : 0] } })) };
      }
      const status = outcomes.length === 0 ? 400 : failed.length === 0 ? 200 : stored.length === 0 ? 409 : 202;
      return reply.code(status).header('content-type', 'application/dicom+json').send(body);
    });
  };
}

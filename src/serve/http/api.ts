// The read API and the Prometheus endpoint: `GET /v1/studies` (paged, filter by decision/state),
// `GET /v1/studies/:uid` (per-image results, heatmap links, deliveries), `GET /v1/studies/:uid/heatmaps/:sop`
// (PNG), `GET /metrics` — all with a read token; reading a study is written to the audit log.
import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.js';
import type { BlobStore, SqliteStore, StudyRecord, StudyState } from '../store/index.js';
import { requestActor } from './auth.js';
import type { HttpContext } from './app.js';

const STATES: readonly StudyState[] = ['receiving', 'decided', 'delivered'];

function studySummary(s: StudyRecord): Record<string, unknown> {
  return {
    studyInstanceUid: s.studyInstanceUid,
    studyKey: s.studyKey,
    state: s.state,
    decision: s.decision,
    reason: s.reason,
    fractureProbability: s.fractureProbability,
    images: s.imageCount,
    firstReceivedAt: s.firstReceivedAt,
    lastReceivedAt: s.lastReceivedAt,
    decidedAt: s.decidedAt,
    revision: s.revision,
  };
}

export function apiPlugin(store: SqliteStore, blobs: BlobStore, metrics: Metrics) {
  return (app: FastifyInstance, context: HttpContext): void => {
    const read = context.requireScope('read');
    app.get<{ Querystring: { page?: string; pageSize?: string; decision?: string; state?: string } }>('/v1/studies', { preHandler: read }, async (request, reply) => {
      const q = request.query;
      const page = q.page === undefined ? 1 : Number(q.page);
      const pageSize = q.pageSize === undefined ? 50 : Number(q.pageSize);
      if (!Number.isInteger(page) || page < 1 || !Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500) {
        return reply.code(400).send({ error: 'bad-request', message: 'page must be ≥ 1 and pageSize 1–500.' });
      }
      if (q.state !== undefined && !STATES.includes(q.state as StudyState)) {
        return reply.code(400).send({ error: 'bad-request', message: `state must be one of ${STATES.join(', ')}.` });
      }
      const { studies, total } = store.listStudies({ page, pageSize, ...(q.decision === undefined ? {} : { decision: q.decision }), ...(q.state === undefined ? {} : { state: q.state as StudyState }) });
      return { page, pageSize, total, studies: studies.map(studySummary) };
    });

    app.get<{ Params: { uid: string } }>('/v1/studies/:uid', { preHandler: read }, async (request, reply) => {
      const study = store.getStudy(request.params.uid);
      if (study === undefined) return reply.code(404).send({ error: 'not-found', message: 'no such study.' });
      store.audit(requestActor(request), 'read-study', study.studyKey);
      const results = new Map(store.resultsOfStudy(study.studyInstanceUid).map((r) => [r.sopInstanceUid, r]));
      const jobs = new Map(store.jobsOfStudy(study.studyInstanceUid).map((j) => [j.sopInstanceUid, j]));
      const base = `/v1/studies/${encodeURIComponent(study.studyInstanceUid)}`;
      return {
        ...studySummary(study),
        images: store.instancesOfStudy(study.studyInstanceUid).map((i) => {
          const r = results.get(i.sopInstanceUid);
          return {
            sopInstanceUid: i.sopInstanceUid,
            sopClassUid: i.sopClassUid,
            status: i.status,
            statusReason: i.reason,
            jobState: jobs.get(i.sopInstanceUid)?.state ?? null,
            decision: r?.decision ?? (i.status === 'skipped' ? 'skipped' : null),
            fractureProbability: r?.fractureProbability ?? null,
            predicted: r?.predicted ?? null,
            level: r?.level ?? null,
            reason: r?.reason ?? null,
            heatmap: r !== undefined && r.heatmap !== '' ? `${base}/heatmaps/${encodeURIComponent(i.sopInstanceUid)}` : null,
            // The box head's fracture boxes ([x0, y0, x1, y1] in the image's pixels, score); null when none were computed.
            boxes: r?.boxes ?? null,
            receiveCount: i.receiveCount,
          };
        }),
        deliveries: store.deliveriesOfStudy(study.studyInstanceUid).map((d) => ({
          kind: d.kind, sopInstanceUid: d.sopInstanceUid, destination: d.destination, state: d.state, attempts: d.attempts, lastError: d.lastError, nextAttemptAt: d.nextAttemptAt, sentAt: d.sentAt,
        })),
      };
    });

    app.get<{ Params: { uid: string; sop: string } }>('/v1/studies/:uid/heatmaps/:sop', { preHandler: read }, async (request, reply) => {
      const result = store.resultsOfStudy(request.params.uid).find((r) => r.sopInstanceUid === request.params.sop);
      if (result === undefined || result.heatmap === '') return reply.code(404).send({ error: 'not-found', message: 'no heatmap for this image.' });
      return reply.type('image/png').send(createReadStream(blobs.absolute(result.heatmap)));
    });

    app.get('/metrics', { preHandler: read }, async (_request, reply) => reply.type('text/plain; version=0.0.4').send(metrics.render()));
  };
}

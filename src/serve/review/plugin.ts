// The review UI as an HttpPlugin under /review: the static app, sign-in, the worklist (keyset pages, live
// updates by server-sent events), cases with full-resolution pixels and heatmaps, versioned verdicts, the
// agreement dashboard and the audit-sample setting. Everything is registered in its own encapsulated scope
// (its cookie parser, error handler and security headers do not touch the node's /v1 API).
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpPlugin } from '../http/index.js';
import { heatmapLayerPath } from '../infer/heatmapFiles.js';
import type { BlobStore, SqliteStore } from '../store/index.js';
import { agreementReport, type AgreementInput } from './agreement.js';
import { readAsset, type AssetName } from './assets.js';
import { REVIEW_HTTP_STATUS, ReviewError, type ReviewErrorCode } from './errors.js';
import { ViewerImages, viewPositionOf } from './images.js';
import { ReviewRepository } from './repository.js';
import { requirePermission, Sessions, type Authenticated, type SessionOptions } from './session.js';
import { PERMISSIONS, VERDICTS, type ReviewCase, type ReviewUser, type VerdictInput, type VerdictRecord, type WorklistFilter } from './types.js';

export interface ReviewPluginOptions extends SessionOptions {
  readonly store: SqliteStore;
  readonly blobs: BlobStore;
  /** Folder with the built app (index.html, app.js, app.css); default dist/ui of this checkout. */
  readonly assetsDir?: string;
  /** P(fracture) at or above which the model calls a fracture, for the dashboard (default 0.5). */
  readonly threshold?: number;
  /** How often the live-update stream looks for worklist changes, in ms (default 1000). */
  readonly pollMs?: number;
  /** Bootstrap resamples for the dashboard's intervals (default 1000). */
  readonly resamples?: number;
  /** Studies whose views column is filled from the stored headers per poll interval (default 8). */
  readonly viewsPerTick?: number;
  /** Sign-in attempts per minute from one address, whatever the user name (default 30); the lock-out is per account. */
  readonly signInsPerMinute?: number;
}

/** Largest JSON body the review routes take (a verdict with a 2,000-character comment fits easily). */
const BODY_LIMIT = 16 * 1024;
const MAX_COMMENT = 2000;

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

const boxSchema = { type: ['array', 'null'], items: { type: 'number', minimum: 0, maximum: 1 }, minItems: 4, maxItems: 4 } as const;

function caseView(c: ReviewCase, user: ReviewUser, blinded: boolean): Record<string, unknown> {
  const ids = PERMISSIONS[user.role].identifiers;
  return {
    studyKey: c.studyKey,
    accessionNumber: ids ? c.accessionNumber : null,
    arrival: c.arrival,
    decision: blinded ? null : c.decision,
    probability: blinded ? null : c.probability,
    reason: blinded ? null : c.reason,
    images: c.images,
    views: c.views,
    auditSample: c.auditSample,
    blinded,
    needsReview: c.priority === 0,
    state: c.state,
    readers: c.readers,
  };
}

function verdictView(v: VerdictRecord, imageIndex: number | null): Record<string, unknown> {
  return { id: v.id, reader: v.userName, version: v.version, verdict: v.verdict, image: imageIndex, box: v.box, comment: v.comment, changes: v.changes, blinded: v.blinded, at: v.createdAt };
}

export function reviewPlugin(options: ReviewPluginOptions): HttpPlugin {
  return async (app: FastifyInstance) => {
    await app.register(async (scope) => routes(scope, options), { prefix: '/review' });
  };
}

async function routes(app: FastifyInstance, options: ReviewPluginOptions): Promise<void> {
  const { store, blobs } = options;
  const repo = new ReviewRepository(store);
  const sessions = new Sessions(repo, store, options);
  const images = new ViewerImages(blobs);
  const streams = new Set<ServerResponse>();
  const pollMs = options.pollMs ?? 1000;

  // The node may have registered these app-wide already; a second registration would clash on its decorators.
  if (!app.hasDecorator('parseCookie')) await app.register(fastifyCookie);
  if (!app.hasDecorator('rateLimit')) await app.register(fastifyRateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => ({ statusCode: 429, error: 'HF_REVIEW_RATE_LIMIT', message: `too many sign-in attempts from this address; try again in ${Math.ceil(context.ttl / 1000)} s.` }),
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(k)) reply.header(k, v);
    return payload;
  });
  // Views column: a few studies at a time, from the stored headers (no pixel decoding), review queue first.
  let filling = false;
  const fillViews = async (): Promise<void> => {
    if (filling) return;
    filling = true;
    try {
      for (const { studyInstanceUid } of repo.casesWithoutViews(options.viewsPerTick ?? 8)) {
        const instances = store.instancesOfStudy(studyInstanceUid);
        const views: string[] = [];
        for (const inst of instances) views.push((await viewPositionOf(blobs, inst)) || (inst.status === 'stored' ? 'image' : inst.status));
        // Derived from the stored headers, so it is filled again if a power cut undoes it: no wait for the disk.
        store.relaxedTransaction(() => repo.setViews(studyInstanceUid, views.length === 0 ? '—' : views.join(' + ')));
      }
    } catch (error) {
      app.log.warn({ code: (error as { code?: string }).code ?? 'views' }, 'review: views not filled');
    } finally {
      filling = false;
    }
  };
  const filler = setInterval(() => void fillViews(), pollMs);
  filler.unref();
  app.addHook('preClose', async () => {
    clearInterval(filler);
    for (const s of streams) s.end();
    streams.clear();
  });
  app.setErrorHandler(async (error, request, reply) => {
    if (error instanceof ReviewError) {
      const status = REVIEW_HTTP_STATUS[error.code as ReviewErrorCode] ?? 500;
      request.log.warn({ code: error.code, route: request.routeOptions.url }, 'review request refused');
      if (error.code === 'HF_REVIEW_SESSION') sessions.clearCookies(reply);
      return reply.code(status).send({ error: error.code, message: error.message });
    }
    const e = error as { statusCode?: number; code?: string; message?: string; validation?: unknown };
    const status = typeof e.statusCode === 'number' && e.statusCode >= 400 ? e.statusCode : 500;
    if (status >= 500) request.log.error({ code: e.code ?? 'internal', route: request.routeOptions.url, err: error }, 'review request failed');
    const message = status === 413 ? `the request body is larger than ${BODY_LIMIT} bytes; nothing was changed.`
      : status >= 500 ? 'internal error; nothing was changed.'
      : `${e.message ?? 'bad request'}; nothing was changed.`;
    return reply.code(status).send({ error: e.code ?? (status === 400 ? 'HF_REVIEW_BAD_REQUEST' : 'internal'), message });
  });

  const auth = (request: FastifyRequest, reply: FastifyReply, touch = true): Authenticated => sessions.authenticate(request, reply, { touch });
  const change = (request: FastifyRequest, reply: FastifyReply): Authenticated => {
    const a = auth(request, reply);
    sessions.checkCsrf(request, a.session);
    return a;
  };
  const findCase = (key: string): ReviewCase => {
    const c = /^S[0-9a-f]{16}$/.test(key) ? repo.caseByKey(key) : undefined;
    if (c === undefined) throw new ReviewError('HF_REVIEW_NOT_FOUND', 'no case with this key.', { input: 'case', fix: 'open it from the worklist.' });
    return c;
  };
  /** An audit-sample case stays blinded to a reader until that reader has given a verdict on it. */
  const isBlinded = (c: ReviewCase, user: ReviewUser): boolean => c.auditSample && !repo.verdictsOf(c.studyInstanceUid).some((v) => v.userName === user.name);
  const imageOf = (c: ReviewCase, index: string) => {
    const i = Number(index);
    const stored = store.instancesOfStudy(c.studyInstanceUid);
    const instance = Number.isInteger(i) ? stored[i] : undefined;
    if (instance === undefined) throw new ReviewError('HF_REVIEW_NOT_FOUND', `the study has no image ${index}.`, { input: 'image', fix: `images are numbered 0–${stored.length - 1}.` });
    return instance;
  };

  // ---------------------------------------------------------------- the app
  const sendAsset = (name: AssetName) => async (_request: FastifyRequest, reply: FastifyReply) => {
    const asset = await readAsset(name, options.assetsDir);
    return reply.type(asset.type).send(asset.body);
  };
  app.get('/', sendAsset('index.html'));
  app.get('/app.js', sendAsset('app.js'));
  app.get('/app.css', sendAsset('app.css'));

  // ---------------------------------------------------------------- sign-in
  app.get('/api/login-token', async (request, reply) => {
    const token = randomBytes(24).toString('base64url');
    sessions.setPreSessionCookie(request, reply, token);
    return { csrf: token, sso: sessions.sso !== undefined };
  });

  app.post<{ Body: { name: string; password: string } }>('/api/login', {
    bodyLimit: BODY_LIMIT,
    config: { rateLimit: { max: options.signInsPerMinute ?? 30, timeWindow: 60_000 } },
    schema: { body: { type: 'object', required: ['name', 'password'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 256 } } } },
  }, async (request, reply) => {
    sessions.checkPreSessionCsrf(request);
    const signed = await sessions.signIn(request.body.name, request.body.password);
    sessions.setSessionCookie(request, reply, signed.id);
    reply.clearCookie('hf_pre', { path: '/review' });
    return { user: signed.user.name, role: signed.user.role, permissions: PERMISSIONS[signed.user.role], csrf: signed.csrf, idleMinutes: sessions.idleMs / 60_000 };
  });

  app.post('/api/logout', { bodyLimit: BODY_LIMIT }, async (request, reply) => {
    const { user, session } = change(request, reply);
    repo.endSession(session.idSha256);
    store.audit(`user:${user.name}`, 'review.sign-out', '', '');
    sessions.clearCookies(reply);
    return { signedOut: true };
  });

  app.get('/api/me', async (request, reply) => {
    const { user, session } = auth(request, reply);
    return { user: user.name, role: user.role, permissions: PERMISSIONS[user.role], csrf: session.csrf, idleMinutes: sessions.idleMs / 60_000 };
  });

  // ---------------------------------------------------------------- worklist
  app.get<{ Querystring: { state?: string; decision?: string; queue?: string; after?: string; limit?: number } }>('/api/worklist', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: {
      state: { type: 'string', enum: ['new', 'in-review', 'read'] },
      decision: { type: 'string', maxLength: 32 },
      queue: { type: 'string', enum: ['review', 'rest'] },
      after: { type: 'string', maxLength: 1024 },
      limit: { type: 'integer', minimum: 1, maximum: 200 },
    } } },
  }, async (request, reply) => {
    const { user } = auth(request, reply);
    const q = request.query;
    const filter: WorklistFilter = {
      ...(q.state === undefined ? {} : { state: q.state as WorklistFilter['state'] }),
      ...(q.decision === undefined ? {} : { decision: q.decision }),
      ...(q.queue === undefined ? {} : { queue: q.queue as 'review' | 'rest' }),
      ...(q.after === undefined ? {} : { after: q.after }),
      ...(q.limit === undefined ? {} : { limit: q.limit }),
    };
    const page = repo.worklist(filter);
    return { rows: page.rows.map((c) => caseView(c, user, c.auditSample && c.state !== 'read')), total: page.total, next: page.next, seq: page.seq };
  });

  app.get('/api/events', async (request, reply) => {
    auth(request, reply, false);
    const cookie = request.cookies['hf_session'] ?? '';
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-content-type-options': 'nosniff' });
    streams.add(res);
    let last = repo.maxSeq();
    let beats = 0;
    res.write(`retry: 3000\nevent: hello\ndata: ${JSON.stringify({ seq: last })}\n\n`);
    const timer = setInterval(() => {
      try {
        const session = repo.session(cookie);
        if (session === undefined || session.ended || Date.now() - Date.parse(session.lastSeenAt) > sessions.idleMs) {
          res.write('event: signed-out\ndata: {}\n\n');
          res.end();
          return;
        }
        const seq = repo.maxSeq();
        if (seq !== last) {
          last = seq;
          res.write(`event: worklist\ndata: ${JSON.stringify({ seq })}\n\n`);
        } else if (++beats % 15 === 0) res.write(': keep-alive\n\n');
      } catch {
        res.end();
      }
    }, pollMs);
    res.on('close', () => {
      clearInterval(timer);
      streams.delete(res);
    });
  });

  // ---------------------------------------------------------------- cases
  app.get<{ Params: { key: string } }>('/api/cases/:key', async (request, reply) => {
    const { user } = auth(request, reply);
    const c = findCase(request.params.key);
    if (PERMISSIONS[user.role].verdicts) repo.markOpened(c.studyInstanceUid, user.name);
    store.audit(`user:${user.name}`, 'review.view', c.studyKey, '');
    const blinded = isBlinded(c, user);
    const instances = store.instancesOfStudy(c.studyInstanceUid);
    const results = new Map(store.resultsOfStudy(c.studyInstanceUid).map((r) => [r.sopInstanceUid, r]));
    const indexOf = new Map(instances.map((inst, i) => [inst.sopInstanceUid, i]));
    const opened = repo.caseByKey(c.studyKey) as ReviewCase;
    return {
      case: caseView(opened, user, blinded),
      images: instances.map((inst, i) => {
        const r = results.get(inst.sopInstanceUid);
        return {
          index: i,
          stored: inst.status === 'stored',
          status: inst.status,
          heatmap: !blinded && r !== undefined && r.heatmap !== '',
          result: blinded || r === undefined ? null : { decision: r.decision, probability: r.fractureProbability, predicted: r.predicted, confidence: r.confidence, level: r.level, reason: r.reason },
          // The box head's fracture boxes in the image's pixels with their scores; null when none were computed.
          boxes: blinded || r === undefined ? null : r.boxes,
        };
      }),
      verdicts: repo.verdictsOf(c.studyInstanceUid).map((v) => verdictView(v, indexOf.get(v.sopInstanceUid) ?? null)),
      next: repo.neighbour(opened, 'next') ?? null,
      previous: repo.neighbour(opened, 'previous') ?? null,
      canGiveVerdict: PERMISSIONS[user.role].verdicts,
      threshold: options.threshold ?? 0.5,
    };
  });

  app.get<{ Params: { key: string; index: string } }>('/api/cases/:key/images/:index/pixels', async (request, reply) => {
    auth(request, reply);
    const c = findCase(request.params.key);
    const image = await images.get(imageOf(c, request.params.index));
    const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    reply.header('x-image-width', String(image.width)).header('x-image-height', String(image.height))
      .header('x-window-center', String(image.windowCenter)).header('x-window-width', String(image.windowWidth))
      .header('x-image-view', image.view.replace(/[^A-Za-z0-9 _-]/g, ''))
      .header('cache-control', 'private, max-age=300');
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.type('application/octet-stream').send(gzip ? image.gzipped : image.pixels);
  });

  app.get<{ Params: { key: string; index: string } }>('/api/cases/:key/images/:index/heatmap', async (request, reply) => {
    const { user } = auth(request, reply);
    const c = findCase(request.params.key);
    if (isBlinded(c, user)) throw new ReviewError('HF_REVIEW_FORBIDDEN', 'this audit-sample case is blinded to the model until you give your verdict.');
    const instance = imageOf(c, request.params.index);
    const result = store.resultsOfStudy(c.studyInstanceUid).find((r) => r.sopInstanceUid === instance.sopInstanceUid);
    if (result === undefined || result.heatmap === '') throw new ReviewError('HF_REVIEW_NOT_FOUND', 'this image has no heatmap.', { input: 'image' });
    // The node's transparent layer (src/serve/infer/heatmapLayer.ts) when it wrote one, else the overlay itself.
    const png = await blobs.read(heatmapLayerPath(result.heatmap)).catch(() => blobs.read(result.heatmap));
    return reply.type('image/png').header('cache-control', 'private, max-age=300').send(png);
  });

  app.post<{ Params: { key: string }; Body: { verdict: string; image?: number | null; box?: number[] | null; comment?: string } }>('/api/cases/:key/verdicts', {
    bodyLimit: BODY_LIMIT,
    schema: { body: { type: 'object', required: ['verdict'], additionalProperties: false, properties: {
      verdict: { type: 'string', enum: [...VERDICTS] },
      image: { type: ['integer', 'null'], minimum: 0 },
      box: boxSchema,
      comment: { type: 'string', maxLength: MAX_COMMENT },
    } } },
  }, async (request, reply) => {
    const { user } = change(request, reply);
    requirePermission(user, 'verdicts');
    const c = findCase(request.params.key);
    const body = request.body;
    const box = body.box ?? null;
    if (box !== null && (box[2]! < box[0]! || box[3]! < box[1]!)) throw new ReviewError('HF_REVIEW_BAD_REQUEST', 'the box must be [x0, y0, x1, y1] with x1 ≥ x0 and y1 ≥ y0.', { input: 'box' });
    if (box !== null && (body.image === undefined || body.image === null)) throw new ReviewError('HF_REVIEW_BAD_REQUEST', 'a box needs the image it was drawn on.', { input: 'image' });
    const instance = body.image === undefined || body.image === null ? undefined : imageOf(c, String(body.image));
    const input: VerdictInput = {
      verdict: body.verdict as VerdictInput['verdict'],
      ...(instance === undefined ? {} : { sopInstanceUid: instance.sopInstanceUid }),
      box: box === null ? null : [box[0]!, box[1]!, box[2]!, box[3]!],
      comment: (body.comment ?? '').trim(),
    };
    const { verdict, others } = repo.addVerdict(c.studyInstanceUid, user, input);
    store.audit(`user:${user.name}`, 'review.verdict', c.studyKey, `${verdict.verdict} v${verdict.version}${others.length > 0 ? `; ${others.length} other reader(s)` : ''}`);
    const indexOf = new Map(store.instancesOfStudy(c.studyInstanceUid).map((inst, i) => [inst.sopInstanceUid, i]));
    return reply.code(201).send({
      verdict: verdictView(verdict, indexOf.get(verdict.sopInstanceUid) ?? null),
      others: others.map((v) => verdictView(v, indexOf.get(v.sopInstanceUid) ?? null)),
    });
  });

  // ---------------------------------------------------------------- dashboard and settings
  app.get('/api/dashboard', async (request, reply) => {
    const { user } = auth(request, reply);
    requirePermission(user, 'dashboard');
    const cases: AgreementInput[] = repo.reviewedCases().map((r) => ({ case: r.case, verdicts: r.verdicts, results: store.resultsOfStudy(r.case.studyInstanceUid) }));
    return {
      report: agreementReport(cases, { threshold: options.threshold ?? 0.5, auditPercent: repo.auditPercent(), auditSampled: repo.auditSampled(), ...(options.resamples === undefined ? {} : { resamples: options.resamples }) }),
      canChangeSettings: PERMISSIONS[user.role].settings,
    };
  });

  app.put<{ Body: { percent: number } }>('/api/settings/audit', {
    bodyLimit: BODY_LIMIT,
    schema: { body: { type: 'object', required: ['percent'], additionalProperties: false, properties: { percent: { type: 'number', minimum: 0, maximum: 100 } } } },
  }, async (request, reply) => {
    const { user } = change(request, reply);
    requirePermission(user, 'settings');
    repo.setAuditPercent(request.body.percent);
    store.audit(`user:${user.name}`, 'review.settings', '', `audit sample ${request.body.percent} %`);
    return { percent: repo.auditPercent() };
  });
}

// The node's HTTP server: a Fastify app built from its dependencies, with the health route, coded-error
// handling and PHI-free request logs. Features (API, metrics, STOW-RS, the review UI) are plugins registered into it.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { HipfracError } from '../../util/index.js';
import type { ServeStore, TokenScope } from '../store/index.js';
import { requireScope } from './auth.js';

export interface HealthReport {
  readonly status: 'ok' | 'degraded';
  readonly version: string;
  readonly uptimeSeconds: number;
  /** Checks by name (store, workers, dicom …), each 'ok' or a short reason; no patient data. */
  readonly checks: Readonly<Record<string, string>>;
}

export interface HttpDeps {
  readonly store: ServeStore;
  /** pino logger (createServeLogger: redaction, request serializers that log method and route pattern — never URLs or bodies). */
  readonly logger: Logger;
  readonly health: () => HealthReport;
  /** Largest request body in bytes (STOW-RS uploads), default 64 MiB. */
  readonly bodyLimit?: number;
}

/** What a plugin receives besides the app: the dependencies and the token check for its routes. */
export interface HttpContext {
  readonly deps: HttpDeps;
  /** A pre-handler requiring a token with this scope (401 without a valid one, 403 without the scope). */
  readonly requireScope: (scope: TokenScope) => ReturnType<typeof requireScope>;
}

/** A feature of the HTTP server: registers its routes (and content-type parsers) into the app. */
export type HttpPlugin = (app: FastifyInstance, context: HttpContext) => Promise<void> | void;

const HTTP_STATUS: Readonly<Record<string, number>> = {
  HF_SERVE_BAD_TOKEN: 401,
  HF_SERVE_TOO_LARGE: 413,
  HF_SERVE_DISK_FULL: 507,
  HF_SERVE_BAD_CONFIG: 400,
};

/** Builds the app (not listening). Register plugins in order; call `app.listen` (or `app.inject` in tests). */
export async function buildHttpApp(deps: HttpDeps, plugins: readonly HttpPlugin[] = []): Promise<FastifyInstance> {
  const options: FastifyServerOptions = {
    loggerInstance: deps.logger,
    bodyLimit: deps.bodyLimit ?? 64 * 1024 * 1024,
  };
  const app = Fastify(options) as unknown as FastifyInstance;
  app.setErrorHandler(async (error, request, reply) => {
    if (error instanceof HipfracError) {
      const status = HTTP_STATUS[error.code] ?? 500;
      request.log.warn({ code: error.code, route: request.routeOptions.url }, 'request failed');
      return reply.code(status).send({ error: error.code, message: error.message });
    }
    const e = error as { statusCode?: number; code?: string; message?: string };
    const status = typeof e.statusCode === 'number' && e.statusCode >= 400 ? e.statusCode : 500;
    request.log.error({ code: e.code ?? 'internal', route: request.routeOptions.url }, 'request failed');
    return reply.code(status).send({ error: e.code ?? 'internal', message: status >= 500 ? 'internal error' : (e.message ?? 'bad request') });
  });
  app.get('/v1/health', async (_request, reply) => {
    const report = deps.health();
    return reply.code(report.status === 'ok' ? 200 : 503).send(report);
  });
  const context: HttpContext = { deps, requireScope: (scope) => requireScope(deps.store, scope) };
  for (const plugin of plugins) await plugin(app, context);
  return app;
}

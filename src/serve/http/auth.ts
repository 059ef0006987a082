// API tokens on every endpoint but health: `Authorization: Bearer hft_…`, checked against the store's hashes.
// A route names the scope it needs; 'admin' includes 'read'.
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { ApiTokenRecord, ServeStore, TokenScope } from '../store/index.js';

const authenticated = new WeakMap<FastifyRequest, ApiTokenRecord>();

/** The token a request was authenticated with (after a `requireScope` pre-handler), else undefined. */
export function requestToken(request: FastifyRequest): ApiTokenRecord | undefined {
  return authenticated.get(request);
}

/** The audit actor of a request: `token:ID` (or `anonymous`). */
export function requestActor(request: FastifyRequest): string {
  const t = authenticated.get(request);
  return t === undefined ? 'anonymous' : `token:${t.id}`;
}

/** A pre-handler that answers 401 without a valid token and 403 when the token lacks `scope`. */
export function requireScope(store: Pick<ServeStore, 'verifyToken'>, scope: TokenScope): preHandlerAsyncHookHandler {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const token = m === null ? undefined : store.verifyToken(m[1] as string);
    if (token === undefined) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'a valid API token is required (Authorization: Bearer hft_…); create one with `hipfrac token create`.' });
      return reply;
    }
    if (!token.scopes.includes(scope) && !token.scopes.includes('admin')) {
      await reply.code(403).send({ error: 'forbidden', message: `this token lacks the '${scope}' scope.` });
      return reply;
    }
    authenticated.set(request, token);
  };
}

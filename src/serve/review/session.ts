// Sign-in and sessions: argon2id passwords, lock-out after repeated failures, an idle time-out and an absolute
// lifetime, the session cookie (HttpOnly, SameSite=Strict, Secure under TLS), a per-session CSRF token checked on
// every state change, and the optional reverse-proxy header mode (off unless configured).
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SqliteStore } from '../store/index.js';
import { ReviewError } from './errors.js';
import { decoyHash, verifyPassword } from './passwords.js';
import type { ReviewRepository } from './repository.js';
import { PERMISSIONS, type ReviewUser, type Role, type SessionRecord } from './types.js';

export const SESSION_COOKIE = 'hf_session';
export const PRE_SESSION_COOKIE = 'hf_pre';
export const CSRF_HEADER = 'x-csrf-token';
export const COOKIE_PATH = '/review';

export interface SsoOptions {
  /** Header carrying the signed-in user's name, set by the proxy (e.g. 'x-remote-user'). */
  readonly header: string;
  /** Socket addresses of the proxies allowed to set it; any other sender's header is ignored. */
  readonly trustedProxies: readonly string[];
}

export interface SessionOptions {
  /** Minutes without a request after which a session ends (default 30). */
  readonly idleMinutes?: number;
  /** Hours after sign-in after which a session ends regardless (default 12). */
  readonly maxSessionHours?: number;
  /** Failed sign-ins in a row that lock an account (default 5). */
  readonly maxFailures?: number;
  /** Minutes an account stays locked (default 15). */
  readonly lockMinutes?: number;
  /** Secure cookies: true, false, or by request protocol (default: true when the request came over TLS). */
  readonly secureCookies?: boolean;
  /** Reverse-proxy single sign-on; off when undefined. */
  readonly sso?: SsoOptions;
}

export interface Authenticated {
  readonly user: ReviewUser;
  readonly session: SessionRecord;
}

const sameText = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export class Sessions {
  readonly idleMs: number;
  readonly maxMs: number;
  readonly #repo: ReviewRepository;
  readonly #store: SqliteStore;
  readonly #options: SessionOptions;

  constructor(repo: ReviewRepository, store: SqliteStore, options: SessionOptions) {
    this.#repo = repo;
    this.#store = store;
    this.#options = options;
    this.idleMs = (options.idleMinutes ?? 30) * 60_000;
    this.maxMs = (options.maxSessionHours ?? 12) * 3_600_000;
  }

  get sso(): SsoOptions | undefined {
    return this.#options.sso;
  }

  #secure(request: FastifyRequest): boolean {
    return this.#options.secureCookies ?? request.protocol === 'https';
  }

  setSessionCookie(request: FastifyRequest, reply: FastifyReply, id: string): void {
    reply.setCookie(SESSION_COOKIE, id, { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict', secure: this.#secure(request) });
  }

  setPreSessionCookie(request: FastifyRequest, reply: FastifyReply, token: string): void {
    reply.setCookie(PRE_SESSION_COOKIE, token, { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict', secure: this.#secure(request), maxAge: 3600 });
  }

  clearCookies(reply: FastifyReply): void {
    reply.clearCookie(SESSION_COOKIE, { path: COOKIE_PATH });
  }

  /** Checks name and password; counts failures and locks; audits both outcomes. Returns the new session. */
  async signIn(name: string, password: string): Promise<{ readonly user: ReviewUser; readonly id: string; readonly csrf: string }> {
    const user = this.#repo.userByName(name);
    if (user === undefined || user.disabled) {
      await verifyPassword(await decoyHash(), password);
      this.#store.audit(`user:${name.slice(0, 64)}`, 'review.sign-in-failed', '', user === undefined ? 'unknown user' : 'disabled user');
      throw new ReviewError('HF_REVIEW_SIGN_IN', 'the user name or password is wrong.', { fix: 'check both; after 5 failures in a row the account locks for 15 minutes.' });
    }
    if (user.lockedUntil !== null && Date.parse(user.lockedUntil) > Date.now()) {
      this.#store.audit(`user:${user.name}`, 'review.sign-in-failed', '', 'locked');
      throw new ReviewError('HF_REVIEW_LOCKED', `the account is locked after repeated failed sign-ins until ${user.lockedUntil}.`, { fix: 'wait, or ask an administrator to run `hipfrac user unlock NAME`.' });
    }
    const ok = await verifyPassword(this.#repo.passwordHash(user.id), password);
    if (!ok) {
      const after = this.#repo.recordFailure(user.id, this.#options.maxFailures ?? 5, this.#options.lockMinutes ?? 15);
      this.#store.audit(`user:${user.name}`, 'review.sign-in-failed', '', after.lockedUntil === null ? 'wrong password' : 'wrong password; account locked');
      throw new ReviewError('HF_REVIEW_SIGN_IN', 'the user name or password is wrong.', { fix: 'check both; after 5 failures in a row the account locks for 15 minutes.' });
    }
    this.#repo.resetFailures(user.id);
    const session = this.#repo.createSession(user.id);
    this.#store.audit(`user:${user.name}`, 'review.sign-in', '', 'password');
    return { user, ...session };
  }

  /**
   * The request's user: from its session cookie, else (SSO mode, trusted proxy) from the proxy's header, which
   * opens a session and sets its cookie. Throws HF_REVIEW_SESSION for no, ended or expired sessions.
   */
  authenticate(request: FastifyRequest, reply: FastifyReply, options: { readonly touch: boolean }): Authenticated {
    const cookie = request.cookies[SESSION_COOKIE];
    if (cookie !== undefined && cookie !== '') {
      const session = this.#repo.session(cookie);
      if (session !== undefined && !session.ended && !session.user.disabled) {
        const now = Date.now();
        if (now - Date.parse(session.lastSeenAt) > this.idleMs || now - Date.parse(session.createdAt) > this.maxMs) {
          this.#repo.endSession(session.idSha256);
          this.#store.audit(`user:${session.user.name}`, 'review.session-expired', '', '');
          throw new ReviewError('HF_REVIEW_SESSION', 'the session has expired; sign in again.', { fix: `sessions end after ${Math.round(this.idleMs / 60_000)} minutes without activity.` });
        }
        if (options.touch) this.#repo.touchSession(session.idSha256);
        return { user: session.user, session };
      }
    }
    const fromProxy = this.#fromProxy(request, reply);
    if (fromProxy !== undefined) return fromProxy;
    throw new ReviewError('HF_REVIEW_SESSION', cookie === undefined ? 'not signed in.' : 'the session has ended; sign in again.', { fix: 'sign in at /review/.' });
  }

  #fromProxy(request: FastifyRequest, reply: FastifyReply): Authenticated | undefined {
    const sso = this.#options.sso;
    if (sso === undefined) return undefined;
    const from = request.socket.remoteAddress ?? '';
    if (!sso.trustedProxies.includes(from)) return undefined;
    const raw = request.headers[sso.header.toLowerCase()];
    const name = (Array.isArray(raw) ? raw[0] : raw)?.trim() ?? '';
    if (name === '') return undefined;
    const user = this.#repo.userByName(name);
    if (user === undefined || user.disabled) {
      this.#store.audit(`user:${name.slice(0, 64)}`, 'review.sign-in-failed', '', 'sso: no such local user');
      throw new ReviewError('HF_REVIEW_FORBIDDEN', `the proxy signed in '${name}', who has no role here.`, { fix: 'add the user with `hipfrac user add NAME --role …` (the password is then unused).' });
    }
    const created = this.#repo.createSession(user.id);
    this.setSessionCookie(request, reply, created.id);
    this.#store.audit(`user:${user.name}`, 'review.sign-in', '', 'sso header');
    return { user, session: this.#repo.session(created.id) as SessionRecord };
  }

  /** Refuses a state change whose CSRF header does not match the session's token. */
  checkCsrf(request: FastifyRequest, session: SessionRecord): void {
    const given = request.headers[CSRF_HEADER];
    const token = Array.isArray(given) ? given[0] : given;
    if (token === undefined || !sameText(token, session.csrf)) {
      throw new ReviewError('HF_REVIEW_CSRF', `the request lacks a valid CSRF token (header ${CSRF_HEADER}).`, { fix: 'reload the page; the app sends the token on every change.' });
    }
  }

  /** Refuses a pre-session request (sign-in) whose CSRF header does not match its pre-session cookie. */
  checkPreSessionCsrf(request: FastifyRequest): void {
    const cookie = request.cookies[PRE_SESSION_COOKIE];
    const given = request.headers[CSRF_HEADER];
    const token = Array.isArray(given) ? given[0] : given;
    if (cookie === undefined || token === undefined || !sameText(token, cookie)) {
      throw new ReviewError('HF_REVIEW_CSRF', `the sign-in lacks a valid CSRF token (header ${CSRF_HEADER} equal to the ${PRE_SESSION_COOKIE} cookie).`, { fix: 'reload the sign-in page.' });
    }
  }
}

export function requirePermission(user: ReviewUser, what: keyof (typeof PERMISSIONS)[Role]): void {
  if (!PERMISSIONS[user.role][what]) {
    throw new ReviewError('HF_REVIEW_FORBIDDEN', `the role '${user.role}' may not do this (${what}).`, { fix: 'ask an administrator for a radiologist or admin account.' });
  }
}

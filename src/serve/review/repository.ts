// The review UI's queries over its own tables (and read-only joins onto the node's studies, instances and
// results). Synchronous, one short transaction per change, as the store's own methods.
import { createHash, randomBytes } from 'node:crypto';
import type { SqliteStore } from '../store/index.js';
import { ReviewError } from './errors.js';
import {
  ROLES,
  VERDICTS,
  type CaseState,
  type ReviewCase,
  type ReviewUser,
  type Role,
  type SessionRecord,
  type VerdictInput,
  type VerdictRecord,
  type WorklistFilter,
  type WorklistPage,
  type WorklistRow,
} from './types.js';

type Row = Record<string, unknown>;
const now = (): string => new Date().toISOString();
const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function userFrom(r: Row): ReviewUser {
  return {
    id: Number(r.id),
    name: str(r.name),
    role: str(r.role) as Role,
    failedCount: Number(r.failed_count),
    lockedUntil: r.locked_until === null ? null : str(r.locked_until),
    createdAt: str(r.created_at),
    disabled: r.disabled_at !== null && r.disabled_at !== undefined,
  };
}

function verdictFrom(r: Row): VerdictRecord {
  const box = r.x0 === null || r.x0 === undefined ? null : ([Number(r.x0), Number(r.y0), Number(r.x1), Number(r.y1)] as const);
  return {
    id: Number(r.id),
    studyInstanceUid: str(r.study_uid),
    userName: str(r.user_name),
    version: Number(r.version),
    verdict: str(r.verdict) as VerdictRecord['verdict'],
    sopInstanceUid: str(r.sop_uid),
    box,
    comment: str(r.comment),
    changes: str(r.changes),
    blinded: Number(r.blinded) === 1,
    createdAt: str(r.created_at),
  };
}

function caseFrom(r: Row): ReviewCase {
  return {
    studyInstanceUid: str(r.study_uid),
    studyKey: str(r.study_key),
    accessionNumber: str(r.accession_number),
    arrival: str(r.arrival),
    decision: r.decision === null ? null : str(r.decision),
    probability: numOrNull(r.probability),
    reason: r.reason === null || r.reason === undefined ? null : str(r.reason),
    images: Number(r.images),
    views: str(r.views),
    auditSample: Number(r.audit_sample) === 1,
    priority: Number(r.priority),
    state: str(r.state) as CaseState,
    readers: Number(r.readers),
    seq: Number(r.seq),
  };
}

interface Cursor { readonly p: number; readonly a: string; readonly u: string }

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor;
    if (typeof c.p === 'number' && typeof c.a === 'string' && typeof c.u === 'string') return c;
  } catch {
    // fall through to the error below
  }
  throw new ReviewError('HF_REVIEW_BAD_REQUEST', 'the worklist cursor is not one this server gave out.', { input: 'after', fix: 'start again from the first page (leave out `after`).' });
}

/** Describes what a new verdict changes against the reader's previous one ('' for a first verdict). */
function describeChanges(previous: VerdictRecord | undefined, next: VerdictInput): string {
  if (previous === undefined) return 'first verdict';
  const changes: string[] = [];
  if (previous.verdict !== next.verdict) changes.push(`verdict ${previous.verdict} → ${next.verdict}`);
  const box = next.box ?? null;
  if (JSON.stringify(previous.box) !== JSON.stringify(box) || previous.sopInstanceUid !== (next.sopInstanceUid ?? '')) changes.push('location');
  if (previous.comment !== (next.comment ?? '')) changes.push('comment');
  return changes.length === 0 ? 'confirmed unchanged' : changes.join('; ');
}

export class ReviewRepository {
  readonly #store: SqliteStore;

  constructor(store: SqliteStore) {
    this.#store = store;
  }

  get #db(): SqliteStore['database'] {
    return this.#store.database;
  }

  // ------------------------------------------------------------------ users

  addUser(name: string, role: Role, passwordHash: string): ReviewUser {
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) throw new ReviewError('HF_REVIEW_BAD_USER', `user name '${name}' is not allowed.`, { input: name, fix: 'use 1–64 letters, digits, dot, underscore, @ or hyphen.' });
    if (!ROLES.includes(role)) throw new ReviewError('HF_REVIEW_BAD_USER', `role '${role}' is not one of ${ROLES.join(', ')}.`, { input: '--role', fix: `pass --role ${ROLES.join('|')}.` });
    if (this.userByName(name) !== undefined) throw new ReviewError('HF_REVIEW_BAD_USER', `user '${name}' exists already.`, { input: name, fix: 'choose another name, or `hipfrac user passwd` to change the password.' });
    this.#db.prepare('INSERT INTO review_users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)').run(name, role, passwordHash, now());
    return this.userByName(name) as ReviewUser;
  }

  userByName(name: string): ReviewUser | undefined {
    const r = this.#db.prepare<Row>('SELECT * FROM review_users WHERE name = ?').get(name);
    return r === undefined ? undefined : userFrom(r);
  }

  passwordHash(userId: number): string {
    return str((this.#db.prepare<Row>('SELECT password_hash FROM review_users WHERE id = ?').get(userId) as Row | undefined)?.password_hash);
  }

  setPassword(name: string, passwordHash: string): void {
    const n = this.#db.prepare('UPDATE review_users SET password_hash = ?, failed_count = 0, locked_until = NULL WHERE name = ?').run(passwordHash, name).changes;
    if (n === 0) throw new ReviewError('HF_REVIEW_BAD_USER', `no user '${name}'.`, { input: name, fix: 'list users with `hipfrac user list`.' });
  }

  listUsers(): ReviewUser[] {
    return this.#db.prepare<Row>('SELECT * FROM review_users ORDER BY name').all().map(userFrom);
  }

  /** Counts a failed sign-in; locks the account for `lockMinutes` once `maxFailures` is reached. */
  recordFailure(userId: number, maxFailures: number, lockMinutes: number): ReviewUser {
    return this.#store.transaction(() => {
      this.#db.prepare('UPDATE review_users SET failed_count = failed_count + 1 WHERE id = ?').run(userId);
      const u = userFrom(this.#db.prepare<Row>('SELECT * FROM review_users WHERE id = ?').get(userId) as Row);
      if (u.failedCount >= maxFailures) {
        this.#db.prepare('UPDATE review_users SET locked_until = ?, failed_count = 0 WHERE id = ?').run(new Date(Date.now() + lockMinutes * 60_000).toISOString(), userId);
      }
      return userFrom(this.#db.prepare<Row>('SELECT * FROM review_users WHERE id = ?').get(userId) as Row);
    });
  }

  resetFailures(userId: number): void {
    this.#db.prepare('UPDATE review_users SET failed_count = 0, locked_until = NULL WHERE id = ?').run(userId);
  }

  unlock(name: string): void {
    const n = this.#db.prepare('UPDATE review_users SET failed_count = 0, locked_until = NULL WHERE name = ?').run(name).changes;
    if (n === 0) throw new ReviewError('HF_REVIEW_BAD_USER', `no user '${name}'.`, { input: name, fix: 'list users with `hipfrac user list`.' });
  }

  /** Disables a user (kept for the audit trail and their verdicts) and ends their sessions. */
  disable(name: string): void {
    this.#store.transaction(() => {
      const u = this.userByName(name);
      if (u === undefined) throw new ReviewError('HF_REVIEW_BAD_USER', `no user '${name}'.`, { input: name, fix: 'list users with `hipfrac user list`.' });
      const at = now();
      this.#db.prepare('UPDATE review_users SET disabled_at = ? WHERE id = ?').run(at, u.id);
      this.#db.prepare('UPDATE review_sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL').run(at, u.id);
    });
  }

  // ------------------------------------------------------------------ sessions

  /** A new session: the cookie value (returned once; only its hash is kept) and its CSRF token. */
  createSession(userId: number): { readonly id: string; readonly csrf: string } {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const at = now();
    this.#db.prepare('INSERT INTO review_sessions (id_sha256, user_id, csrf, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)').run(sha256(id), userId, csrf, at, at);
    return { id, csrf };
  }

  session(id: string): SessionRecord | undefined {
    const r = this.#db.prepare<Row>(`SELECT s.id_sha256, s.csrf, s.created_at, s.last_seen_at, s.ended_at, u.* FROM review_sessions s JOIN review_users u ON u.id = s.user_id WHERE s.id_sha256 = ?`).get(sha256(id));
    if (r === undefined) return undefined;
    return { idSha256: str(r.id_sha256), csrf: str(r.csrf), createdAt: str(r.created_at), lastSeenAt: str(r.last_seen_at), ended: r.ended_at !== null, user: userFrom(r) };
  }

  touchSession(idSha256: string): void {
    this.#db.prepare('UPDATE review_sessions SET last_seen_at = ? WHERE id_sha256 = ?').run(now(), idSha256);
  }

  endSession(idSha256: string): void {
    this.#db.prepare('UPDATE review_sessions SET ended_at = ? WHERE id_sha256 = ? AND ended_at IS NULL').run(now(), idSha256);
  }

  // ------------------------------------------------------------------ worklist and cases

  worklist(filter: WorklistFilter): WorklistPage {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.state !== undefined) {
      where.push('c.state = ?');
      params.push(filter.state);
    }
    if (filter.decision !== undefined) {
      where.push('c.decision = ?');
      params.push(filter.decision);
    }
    if (filter.queue === 'review') where.push('c.priority = 0');
    if (filter.queue === 'rest') where.push('c.priority = 1');
    const total = Number((this.#db.prepare<Row>(`SELECT COUNT(*) AS n FROM review_cases c ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}`).get(...params) as Row).n);
    if (filter.after !== undefined) {
      const c = decodeCursor(filter.after);
      where.push('(c.priority > ? OR (c.priority = ? AND (c.arrival < ? OR (c.arrival = ? AND c.study_uid > ?))))');
      params.push(c.p, c.p, c.a, c.a, c.u);
    }
    const limit = Math.min(200, Math.max(1, filter.limit ?? 50));
    const rows = this.#db.prepare<Row>(`
      SELECT c.*, s.accession_number, s.reason FROM review_cases c JOIN studies s ON s.study_uid = c.study_uid
      ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
      ORDER BY c.priority, c.arrival DESC, c.study_uid LIMIT ?`).all(...params, limit + 1);
    const more = rows.length > limit;
    const page = rows.slice(0, limit).map(caseFrom);
    const last = page[page.length - 1];
    return {
      rows: page.map((c): WorklistRow => ({ ...c })),
      total,
      next: more && last !== undefined ? encodeCursor({ p: last.priority, a: last.arrival, u: last.studyInstanceUid }) : null,
      seq: this.maxSeq(),
    };
  }

  caseByKey(studyKey: string): ReviewCase | undefined {
    const r = this.#db.prepare<Row>(`SELECT c.*, s.accession_number, s.reason FROM review_cases c JOIN studies s ON s.study_uid = c.study_uid WHERE c.study_key = ?`).get(studyKey);
    return r === undefined ? undefined : caseFrom(r);
  }

  /** The case before or after this one in worklist order (same filter-free order), or undefined at either end. */
  neighbour(c: ReviewCase, direction: 'next' | 'previous'): string | undefined {
    const sql = direction === 'next'
      ? `SELECT study_key FROM review_cases WHERE priority > ? OR (priority = ? AND (arrival < ? OR (arrival = ? AND study_uid > ?))) ORDER BY priority, arrival DESC, study_uid LIMIT 1`
      : `SELECT study_key FROM review_cases WHERE priority < ? OR (priority = ? AND (arrival > ? OR (arrival = ? AND study_uid < ?))) ORDER BY priority DESC, arrival, study_uid DESC LIMIT 1`;
    const r = this.#db.prepare<Row>(sql).get(c.priority, c.priority, c.arrival, c.arrival, c.studyInstanceUid);
    return r === undefined ? undefined : str(r.study_key);
  }

  /** A radiologist opened the case: `new` becomes `in-review`. */
  markOpened(studyInstanceUid: string, userName: string): void {
    this.#db.prepare(`UPDATE review_cases SET state = 'in-review', opened_by = ?, seq = (SELECT MAX(seq) + 1 FROM review_cases) WHERE study_uid = ? AND state = 'new'`).run(userName, studyInstanceUid);
  }

  /** Sets the views column; a change counts as a worklist change for the live updates. */
  setViews(studyInstanceUid: string, views: string): void {
    this.#db.prepare('UPDATE review_cases SET views = ?, seq = (SELECT MAX(seq) + 1 FROM review_cases) WHERE study_uid = ? AND views != ?').run(views, studyInstanceUid, views);
  }

  /** Cases whose views column is still empty (review queue first), for the background filler. */
  casesWithoutViews(limit: number): { readonly studyInstanceUid: string }[] {
    // Studies still receiving wait: each new image would empty their views again.
    return this.#db.prepare<Row>(`SELECT c.study_uid FROM review_cases c JOIN studies s ON s.study_uid = c.study_uid
      WHERE c.views = '' AND c.images > 0 AND s.state != 'receiving' ORDER BY c.priority, c.arrival DESC LIMIT ?`).all(limit).map((r) => ({ studyInstanceUid: str(r.study_uid) }));
  }

  maxSeq(): number {
    return Number((this.#db.prepare<Row>('SELECT COALESCE(MAX(seq), 0) AS n FROM review_cases').get() as Row).n);
  }

  // ------------------------------------------------------------------ verdicts

  /**
   * Adds a verdict as a new version of this reader's verdicts on the study (never overwriting) and marks the
   * case read. Returns the new record and the other readers' latest verdicts (a second reader's verdict is kept beside the first).
   */
  addVerdict(studyInstanceUid: string, user: ReviewUser, input: VerdictInput): { readonly verdict: VerdictRecord; readonly others: VerdictRecord[] } {
    if (!VERDICTS.includes(input.verdict)) throw new ReviewError('HF_REVIEW_BAD_REQUEST', `verdict '${input.verdict}' is not one of ${VERDICTS.join(', ')}.`, { input: 'verdict' });
    return this.#store.transaction(() => {
      const c = this.#db.prepare<Row>('SELECT audit_sample FROM review_cases WHERE study_uid = ?').get(studyInstanceUid);
      if (c === undefined) throw new ReviewError('HF_REVIEW_NOT_FOUND', 'no such case.', { input: 'study' });
      const mine = this.verdictsOf(studyInstanceUid).filter((v) => v.userName === user.name);
      const previous = mine[mine.length - 1];
      const version = (previous?.version ?? 0) + 1;
      const box = input.box ?? null;
      const info = this.#db.prepare(`INSERT INTO review_verdicts (study_uid, user_id, user_name, version, verdict, sop_uid, x0, y0, x1, y1, comment, changes, blinded, created_at)
                                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        studyInstanceUid, user.id, user.name, version, input.verdict, input.sopInstanceUid ?? '', box?.[0] ?? null, box?.[1] ?? null, box?.[2] ?? null, box?.[3] ?? null,
        input.comment ?? '', describeChanges(previous, input), Number(c.audit_sample) === 1 ? 1 : 0, now(),
      );
      const readers = Number((this.#db.prepare<Row>('SELECT COUNT(DISTINCT user_id) AS n FROM review_verdicts WHERE study_uid = ?').get(studyInstanceUid) as Row).n);
      this.#db.prepare(`UPDATE review_cases SET state = 'read', priority = 1, readers = ?, seq = (SELECT MAX(seq) + 1 FROM review_cases) WHERE study_uid = ?`).run(readers, studyInstanceUid);
      const verdict = verdictFrom(this.#db.prepare<Row>('SELECT * FROM review_verdicts WHERE id = ?').get(info.lastInsertRowid) as Row);
      return { verdict, others: this.latestVerdicts(studyInstanceUid).filter((v) => v.userName !== user.name) };
    });
  }

  /** Every version of every reader's verdicts on the study, oldest first. */
  verdictsOf(studyInstanceUid: string): VerdictRecord[] {
    return this.#db.prepare<Row>('SELECT * FROM review_verdicts WHERE study_uid = ? ORDER BY id').all(studyInstanceUid).map(verdictFrom);
  }

  /** Each reader's latest verdict on the study. */
  latestVerdicts(studyInstanceUid: string): VerdictRecord[] {
    const latest = new Map<string, VerdictRecord>();
    for (const v of this.verdictsOf(studyInstanceUid)) latest.set(v.userName, v);
    return [...latest.values()];
  }

  /** Every read case with its readers' latest verdicts and the model's study result, oldest read first. */
  reviewedCases(): { readonly case: ReviewCase; readonly verdicts: VerdictRecord[] }[] {
    const cases = this.#db.prepare<Row>(`SELECT c.*, s.accession_number, s.reason FROM review_cases c JOIN studies s ON s.study_uid = c.study_uid WHERE c.state = 'read' ORDER BY c.arrival, c.study_uid`).all().map(caseFrom);
    const all = this.#db.prepare<Row>(`SELECT v.* FROM review_verdicts v JOIN review_cases c ON c.study_uid = v.study_uid WHERE c.state = 'read' ORDER BY v.id`).all().map(verdictFrom);
    const byStudy = new Map<string, Map<string, VerdictRecord>>();
    for (const v of all) {
      const m = byStudy.get(v.studyInstanceUid) ?? new Map<string, VerdictRecord>();
      m.set(v.userName, v);
      byStudy.set(v.studyInstanceUid, m);
    }
    return cases.map((c) => ({ case: c, verdicts: [...(byStudy.get(c.studyInstanceUid)?.values() ?? [])] }));
  }

  /** How many cases the audit sample has drawn so far. */
  auditSampled(): number {
    return Number((this.#db.prepare<Row>('SELECT COUNT(*) AS n FROM review_cases WHERE audit_sample = 1').get() as Row).n);
  }

  // ------------------------------------------------------------------ settings

  auditPercent(): number {
    return Number((this.#db.prepare<Row>(`SELECT value FROM review_settings WHERE key = 'audit_percent'`).get() as Row | undefined)?.value ?? 0);
  }

  setAuditPercent(percent: number): void {
    if (!(Number.isFinite(percent) && percent >= 0 && percent <= 100)) throw new ReviewError('HF_REVIEW_BAD_REQUEST', `audit percentage ${percent} is outside 0–100.`, { input: 'percent', fix: 'give a number from 0 to 100.' });
    this.#db.prepare(`INSERT INTO review_settings (key, value) VALUES ('audit_percent', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(percent));
  }
}

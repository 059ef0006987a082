// The SQLite implementation of ServeStore (better-sqlite3, WAL, one writer, short transactions).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import Database, { type SqliteDatabase, type Statement } from 'better-sqlite3';
import { HipfracError } from '../../util/index.js';
import type { CheckpointThreadData } from './checkpointThread.js';
import { CORE_MIGRATIONS, migrate, type Migration } from './migrations.js';
import {
  JOB_TRANSITIONS,
  type ApiTokenRecord,
  type AuditEntry,
  type DeliveryRecord,
  type DeliveryState,
  type InstanceRecord,
  type JobRecord,
  type JobState,
  type NewDelivery,
  type NewInstance,
  type NewResult,
  type ReceiveOutcome,
  type ResultBox,
  type ResultRecord,
  type ServeStore,
  type StoreCounts,
  type StudyDecision,
  type StudyFilter,
  type StudyRecord,
  type TokenScope,
} from './types.js';

type Row = Record<string, unknown>;

const now = (): string => new Date().toISOString();
/** How often a token's last use is written: at most once a minute. */
const TOKEN_USE_RESOLUTION_MS = 60_000;
const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function instanceFrom(r: Row): InstanceRecord {
  return {
    sopInstanceUid: str(r.sop_uid),
    sopClassUid: str(r.sop_class_uid),
    studyInstanceUid: str(r.study_uid),
    seriesInstanceUid: str(r.series_uid),
    transferSyntaxUid: str(r.transfer_syntax_uid),
    sha256: str(r.sha256),
    file: str(r.file),
    bytes: Number(r.bytes),
    status: str(r.status) as InstanceRecord['status'],
    reason: str(r.reason),
    source: str(r.source),
    receivedAt: str(r.received_at),
    receiveCount: Number(r.receive_count),
  };
}

function studyFrom(r: Row, imageCount: number): StudyRecord {
  return {
    studyInstanceUid: str(r.study_uid),
    studyKey: str(r.study_key),
    patientId: str(r.patient_id),
    patientName: str(r.patient_name),
    accessionNumber: str(r.accession_number),
    studyDate: str(r.study_date),
    state: str(r.state) as StudyRecord['state'],
    firstReceivedAt: str(r.first_received_at),
    lastReceivedAt: str(r.last_received_at),
    imageCount,
    decision: strOrNull(r.decision),
    reason: strOrNull(r.reason),
    fractureProbability: numOrNull(r.fracture_probability),
    decidedAt: strOrNull(r.decided_at),
    revision: Number(r.revision),
  };
}

function jobFrom(r: Row): JobRecord {
  return {
    id: Number(r.id),
    sopInstanceUid: str(r.sop_uid),
    studyInstanceUid: str(r.study_uid),
    state: str(r.state) as JobState,
    attempts: Number(r.attempts),
    error: str(r.error),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  };
}

function resultFrom(r: Row): ResultRecord {
  return {
    sopInstanceUid: str(r.sop_uid),
    studyInstanceUid: str(r.study_uid),
    decision: str(r.decision),
    fractureProbability: numOrNull(r.fracture_probability),
    predicted: str(r.predicted),
    confidence: numOrNull(r.confidence),
    level: str(r.level),
    reason: str(r.reason),
    heatmap: str(r.heatmap),
    boxes: r.boxes === null || r.boxes === undefined ? null : (JSON.parse(str(r.boxes)) as ResultBox[]),
    regionOrigin: [Number(r.region_x ?? 0), Number(r.region_y ?? 0)],
    createdAt: str(r.created_at),
  };
}

function deliveryFrom(r: Row): DeliveryRecord {
  return {
    id: Number(r.id),
    studyInstanceUid: str(r.study_uid),
    kind: str(r.kind) as DeliveryRecord['kind'],
    sopInstanceUid: str(r.sop_uid),
    destination: str(r.destination),
    file: str(r.file),
    state: str(r.state) as DeliveryState,
    attempts: Number(r.attempts),
    nextAttemptAt: str(r.next_attempt_at),
    lastError: str(r.last_error),
    sentAt: strOrNull(r.sent_at),
  };
}

function tokenFrom(r: Row): ApiTokenRecord {
  return {
    id: str(r.id),
    name: str(r.name),
    scopes: str(r.scopes).split(',').filter((s) => s !== '') as TokenScope[],
    createdAt: str(r.created_at),
    revokedAt: strOrNull(r.revoked_at),
    lastUsedAt: strOrNull(r.last_used_at),
  };
}

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The token's printable form: `hft_<id>_<secret>`; only sha256(secret) is stored. */
const TOKEN_PATTERN = /^hft_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface SqliteStoreOptions {
  /** Migrations of later features (review UI, …), applied after the core ones in id order. */
  readonly migrations?: readonly Migration[];
  /** How many times a job may be claimed before it is failed (a worker that dies on it each time). */
  readonly maxAttempts?: number;
  /**
   * Checkpoint the write-ahead log on a thread of its own every this many milliseconds instead of inside the
   * commits of this connection (the serving node: a checkpoint's copy and disk flush would hold its event loop).
   * Unset: SQLite's automatic checkpoint.
   */
  readonly checkpointIntervalMs?: number;
  /**
   * With `checkpointIntervalMs`: once the write-ahead log is larger than this, in bytes, the checkpointer restarts it
   * from its beginning (default 4 MiB, about SQLite's own 1,000 pages), so that it stays bounded under a steady
   * stream of commits.
   */
  readonly walRestartBytes?: number;
}

/**
 * What the study decider asks on every pass (studiesReadyToDecide, earliestUndecidedReceivedAt), each with one
 * parameter, a time: both read the undecided studies through the studies_undecided index (migration 0003).
 */
export const DECIDER_QUERIES = {
  ready: `
      SELECT s.*, (SELECT COUNT(*) FROM instances i WHERE i.study_uid = s.study_uid) AS image_count FROM studies s
      WHERE s.decided_revision < s.revision AND s.last_received_at <= ?
        AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.study_uid = s.study_uid AND j.state IN ('received', 'queued', 'inferring'))
      ORDER BY s.last_received_at`,
  earliest: 'SELECT MIN(last_received_at) AS at FROM studies WHERE decided_revision < revision AND last_received_at > ?',
} as const;

/**
 * One page of GET /v1/studies, newest first, after `clause` ('' or a WHERE on state and/or decision); parameters: the
 * clause's, then LIMIT and OFFSET. The page is read in order through studies_recent, studies_state_recent or
 * studies_decision_recent (migration 0004), not sorted from every matching study.
 */
export const studyListQuery = (clause: string): string =>
  `SELECT s.*, (SELECT COUNT(*) FROM instances i WHERE i.study_uid = s.study_uid) AS image_count FROM studies s ${clause} ORDER BY last_received_at DESC, study_uid LIMIT ? OFFSET ?`;

export class SqliteStore implements ServeStore {
  /** The open database, for feature modules that keep their own tables (added by their migrations). */
  readonly database: SqliteDatabase;
  readonly #maxAttempts: number;
  readonly #studyKeySecret: string;
  /** Prepared statements by SQL text (preparing costs more than running on this path). */
  readonly #statements = new Map<string, Statement<Row>>();
  /** The write-ahead log's file, flushed off the main thread by `durableTransaction` (undefined outside WAL mode). */
  readonly #walFile: string | undefined;
  #wal: Promise<FileHandle> | undefined;
  /** The flush running now, and the one queued behind it for commits made while it runs. */
  #flushing: Promise<void> | undefined;
  #nextFlush: Promise<void> | undefined;
  /** The checkpointer thread (checkpointIntervalMs), undefined when SQLite checkpoints inside commits. */
  #checkpointer: Worker | undefined;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    try {
      this.database = new Database(file, { timeout: 5000 });
    } catch (cause) {
      throw new HipfracError('HF_SERVE_STORE', `cannot open the store: ${(cause as Error).message}`, { input: file, fix: 'check that the --data folder exists and is writable.', cause });
    }
    const mode = this.database.pragma('journal_mode = WAL', { simple: true });
    // FULL: a committed row survives a power cut, as the Success status sent after it promises. The pipeline's own
    // state changes commit with NORMAL instead (relaxedTransaction).
    this.database.pragma('synchronous = FULL');
    this.database.pragma('foreign_keys = ON');
    // Statement journals (a savepoint inside a transaction, a trigger's statement) in memory: on disk SQLite makes,
    // writes and unlinks a temporary file for most received instances.
    this.database.pragma('temp_store = MEMORY');
    migrate(this.database, [...CORE_MIGRATIONS, ...(options.migrations ?? [])]);
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#studyKeySecret = this.#setting('study_key_secret', () => randomBytes(32).toString('hex'));
    // The log exists from the first write on (the settings row above) and stays while this connection is open.
    this.#walFile = mode === 'wal' && existsSync(`${file}-wal`) ? `${file}-wal` : undefined;
    if (this.#walFile !== undefined && options.checkpointIntervalMs !== undefined && options.checkpointIntervalMs > 0) {
      this.#startCheckpointer({ file, intervalMs: options.checkpointIntervalMs, restartBytes: options.walRestartBytes ?? 4 * 1024 * 1024 });
    }
  }

  #startCheckpointer(workerData: CheckpointThreadData): void {
    const worker = new Worker(new URL('./checkpointThread.js', import.meta.url), { workerData });
    // The node's own handles keep the process alive; this thread must not hold it open after close().
    worker.unref();
    this.database.pragma('wal_autocheckpoint = 0');
    const fallBack = (): void => {
      // The thread is gone (or never started): the connection checkpoints inside its commits again.
      if (this.#checkpointer !== worker) return;
      this.#checkpointer = undefined;
      if (this.database.open) this.database.pragma('wal_autocheckpoint = 1000');
    };
    worker.once('error', fallBack);
    worker.once('exit', fallBack);
    this.#checkpointer = worker;
  }

  #q(sql: string): Statement<Row> {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare<Row>(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs `fn` in one immediate transaction, committed durably: on return it survives a power cut (for feature
   * modules that change several tables at once). Called inside another transaction, it joins that one.
   */
  transaction<T>(fn: () => T): T {
    return this.database.inTransaction ? this.database.transaction(fn)() : this.database.transaction(fn).immediate();
  }

  /**
   * Like `transaction`, but committed without waiting for the disk (WAL, synchronous NORMAL): for the pipeline's
   * own state (jobs, results, decisions, deliveries), which a restart redoes. A killed process loses none of it; a
   * power cut may undo the last such commits, never one followed by a durable commit: a job then runs again (its
   * result replaces by SOP Instance UID) and a delivery is sent again with the same UIDs.
   */
  relaxedTransaction<T>(fn: () => T): T {
    if (this.database.inTransaction) return this.database.transaction(fn)();
    this.#q('PRAGMA synchronous = NORMAL').run();
    try {
      return this.database.transaction(fn).immediate();
    } finally {
      this.#q('PRAGMA synchronous = FULL').run();
    }
  }

  /**
   * Runs `fn` in one transaction and resolves once it is durable, without holding the main thread during the disk
   * flush: committed with synchronous NORMAL, then the write-ahead log is fsynced on a thread of the pool — what
   * synchronous FULL does at each commit, moved off the event loop. Commits made while a flush runs share the next
   * one (group commit). Others see the rows at once; a power cut before the flush ends undoes them, and their
   * sender, not yet answered, sends them again. Without a write-ahead log it is `transaction`.
   */
  async durableTransaction<T>(fn: () => T): Promise<T> {
    if (this.#walFile === undefined || this.database.inTransaction) return this.transaction(fn);
    const value = this.relaxedTransaction(fn);
    await this.#flushWal();
    return value;
  }

  #flushWal(): Promise<void> {
    if (this.#flushing === undefined) {
      const wal = (this.#wal ??= open(this.#walFile as string, 'r+'));
      this.#flushing = wal.then((h) => h.sync()).finally(() => (this.#flushing = undefined));
      return this.#flushing;
    }
    // A flush already running may have started before this commit: wait for the one after it.
    this.#nextFlush ??= this.#flushing.catch(() => undefined).then(() => {
      this.#nextFlush = undefined;
      return this.#flushWal();
    });
    return this.#nextFlush;
  }

  #setting(key: string, initial: () => string): string {
    return this.transaction(() => {
      const row = (this.#q('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined);
      if (row !== undefined) return row.value;
      const value = initial();
      this.#q('INSERT INTO settings (key, value) VALUES (?, ?)').run(key, value);
      return value;
    });
  }

  /** The pseudonymous study key used in logs, metrics and the audit log: HMAC of the UID with this store's secret. */
  studyKey(studyInstanceUid: string): string {
    return `S${createHmac('sha256', this.#studyKeySecret).update(studyInstanceUid).digest('hex').slice(0, 16)}`;
  }

  recordInstance(instance: NewInstance, options: { readonly confirmed?: boolean } = {}): ReceiveOutcome {
    return this.transaction(() => {
      const existing = this.#q('SELECT * FROM instances WHERE sop_uid = ?').get(instance.sopInstanceUid);
      const at = now();
      if (existing !== undefined) {
        this.#q('UPDATE instances SET receive_count = receive_count + 1 WHERE sop_uid = ?').run(instance.sopInstanceUid);
        return { isNew: false, instance: instanceFrom({ ...existing, receive_count: Number(existing.receive_count) + 1 }), job: undefined };
      }
      const c = instance.context;
      const study = this.#q('SELECT state, decided_revision, revision FROM studies WHERE study_uid = ?').get(c.studyInstanceUid);
      if (study === undefined) {
        this.#q(`INSERT INTO studies (study_uid, study_key, patient_id, patient_name, accession_number, study_date, state, first_received_at, last_received_at)
                    VALUES (?, ?, ?, ?, ?, ?, 'receiving', ?, ?)`).run(c.studyInstanceUid, this.studyKey(c.studyInstanceUid), c.patientId, c.patientName, c.accessionNumber, c.studyDate, at, at);
      } else {
        // A late image of a decided study opens a new revision: its result is decided (and its SR sent) again.
        const reopen = Number(study.decided_revision) === Number(study.revision) && instance.status === 'stored';
        this.#q(`UPDATE studies SET last_received_at = ?, state = CASE WHEN ? THEN 'receiving' ELSE state END, revision = revision + ? WHERE study_uid = ?`)
          .run(at, reopen ? 1 : 0, reopen ? 1 : 0, c.studyInstanceUid);
      }
      this.#q(`INSERT INTO instances (sop_uid, sop_class_uid, study_uid, series_uid, transfer_syntax_uid, sha256, file, bytes, status, reason, source, received_at)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        instance.sopInstanceUid, instance.sopClassUid, c.studyInstanceUid, instance.seriesInstanceUid, instance.transferSyntaxUid,
        instance.sha256, instance.file, instance.bytes, instance.status, instance.reason, instance.source, at,
      );
      let job: JobRecord | undefined;
      if (instance.status === 'stored') {
        const id = this.#q(`INSERT INTO jobs (sop_uid, study_uid, state, created_at, updated_at) VALUES (?, ?, 'received', ?, ?)`).run(instance.sopInstanceUid, c.studyInstanceUid, at, at).lastInsertRowid;
        job = options.confirmed === false ? jobFrom(this.#q('SELECT * FROM jobs WHERE id = ?').get(id) as Row) : this.#transition(Number(id), 'queued');
      }
      const stored = this.#q('SELECT * FROM instances WHERE sop_uid = ?').get(instance.sopInstanceUid) as Row;
      return { isNew: true, instance: instanceFrom(stored), job };
    });
  }

  confirmInstances(sopInstanceUids: readonly string[]): number {
    if (sopInstanceUids.length === 0) return 0;
    return this.relaxedTransaction(() => {
      const at = now();
      const confirm = this.#q(`UPDATE jobs SET state = 'queued', updated_at = ? WHERE sop_uid = ? AND state = 'received'`);
      let n = 0;
      for (const uid of sopInstanceUids) n += confirm.run(at, uid).changes;
      return n;
    });
  }

  unconfirmedInstances(): InstanceRecord[] {
    return this.#q(`SELECT i.* FROM instances i JOIN jobs j ON j.sop_uid = i.sop_uid WHERE j.state = 'received' ORDER BY i.received_at, i.sop_uid`).all().map(instanceFrom);
  }

  forgetInstance(sopInstanceUid: string): boolean {
    return this.transaction(() => {
      const instance = this.#q('SELECT study_uid FROM instances WHERE sop_uid = ?').get(sopInstanceUid);
      if (instance === undefined) return false;
      this.#q('DELETE FROM jobs WHERE sop_uid = ?').run(sopInstanceUid);
      this.#q('DELETE FROM instances WHERE sop_uid = ?').run(sopInstanceUid);
      const study = str(instance.study_uid);
      if (this.#imageCount(study) === 0) this.#q('DELETE FROM studies WHERE study_uid = ?').run(study);
      return true;
    });
  }

  getInstance(sopInstanceUid: string): InstanceRecord | undefined {
    const r = this.#q('SELECT * FROM instances WHERE sop_uid = ?').get(sopInstanceUid);
    return r === undefined ? undefined : instanceFrom(r);
  }

  instancesOfStudy(studyInstanceUid: string): InstanceRecord[] {
    return this.#q('SELECT * FROM instances WHERE study_uid = ? ORDER BY received_at, sop_uid').all(studyInstanceUid).map(instanceFrom);
  }

  quarantineInstance(sopInstanceUid: string, reason: string): void {
    this.relaxedTransaction(() => this.#q(`UPDATE instances SET status = 'quarantined', reason = ? WHERE sop_uid = ?`).run(reason, sopInstanceUid));
  }

  #imageCount(studyInstanceUid: string): number {
    return Number((this.#q('SELECT COUNT(*) AS n FROM instances WHERE study_uid = ?').get(studyInstanceUid) as Row).n);
  }

  getStudy(studyInstanceUid: string): StudyRecord | undefined {
    const r = this.#q('SELECT * FROM studies WHERE study_uid = ?').get(studyInstanceUid);
    return r === undefined ? undefined : studyFrom(r, this.#imageCount(studyInstanceUid));
  }

  listStudies(filter: StudyFilter = {}): { studies: StudyRecord[]; total: number } {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.decision !== undefined) {
      where.push('decision = ?');
      params.push(filter.decision);
    }
    if (filter.state !== undefined) {
      where.push('state = ?');
      params.push(filter.state);
    }
    const clause = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    const pageSize = Math.min(500, Math.max(1, filter.pageSize ?? 50));
    const page = Math.max(1, filter.page ?? 1);
    const total = Number((this.#q(`SELECT COUNT(*) AS n FROM studies ${clause}`).get(...params) as Row).n);
    const rows = this.#q(studyListQuery(clause)).all(...params, pageSize, (page - 1) * pageSize);
    return { studies: rows.map((r) => studyFrom(r, Number(r.image_count))), total };
  }

  studiesReadyToDecide(quietSince: string): StudyRecord[] {
    const rows = this.#q(DECIDER_QUERIES.ready).all(quietSince);
    return rows.map((r) => studyFrom(r, Number(r.image_count)));
  }

  earliestUndecidedReceivedAt(after: string): string | undefined {
    const row = this.#q(DECIDER_QUERIES.earliest).get(after) as Row;
    return row.at === null || row.at === undefined ? undefined : str(row.at);
  }

  recordStudyDecision(studyInstanceUid: string, decision: StudyDecision, deliveries: readonly NewDelivery[]): void {
    this.relaxedTransaction(() => {
      const at = now();
      this.#q(`UPDATE studies SET decision = ?, reason = ?, fracture_probability = ?, decided_at = ?, decided_revision = revision,
                  state = CASE WHEN ? > 0 THEN 'decided' ELSE 'delivered' END WHERE study_uid = ?`)
        .run(decision.decision, decision.reason, decision.fractureProbability, at, deliveries.length, studyInstanceUid);
      const insert = this.#q(`INSERT INTO deliveries (study_uid, kind, sop_uid, destination, file, state, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)
                                 ON CONFLICT (sop_uid, destination) DO UPDATE SET file = excluded.file, state = 'pending', next_attempt_at = excluded.next_attempt_at, attempts = 0, last_error = ''`);
      for (const d of deliveries) insert.run(d.studyInstanceUid, d.kind, d.sopInstanceUid, d.destination, d.file, at);
      if (deliveries.length === 0) this.#deliverJobs(studyInstanceUid);
    });
  }

  /** Moves the study's finished jobs to `delivered` (its results have reached every destination, or there are none). */
  #deliverJobs(studyInstanceUid: string): void {
    const ids = this.#q(`SELECT id FROM jobs WHERE study_uid = ? AND state IN ('done', 'failed')`).all(studyInstanceUid);
    for (const r of ids) this.#transition(Number(r.id), 'delivered');
  }

  claimJobs(limit: number): JobRecord[] {
    return this.relaxedTransaction(() => {
      const rows = this.#q(`SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT ?`).all(limit);
      return rows.map((r) => {
        this.#q('UPDATE jobs SET attempts = attempts + 1 WHERE id = ?').run(r.id);
        return this.#transition(Number(r.id), 'inferring');
      });
    });
  }

  #transition(id: number, to: JobState, error = ''): JobRecord {
    const row = this.#q('SELECT * FROM jobs WHERE id = ?').get(id);
    if (row === undefined) throw new HipfracError('HF_SERVE_BAD_TRANSITION', `no job ${id}.`, { input: String(id) });
    const from = str(row.state) as JobState;
    if (!JOB_TRANSITIONS[from].includes(to)) {
      throw new HipfracError('HF_SERVE_BAD_TRANSITION', `job ${id} cannot move from '${from}' to '${to}'.`, { input: String(id), fix: `allowed from '${from}': ${JOB_TRANSITIONS[from].join(', ') || 'none'}.` });
    }
    this.#q('UPDATE jobs SET state = ?, error = ?, updated_at = ? WHERE id = ?').run(to, error === '' ? str(row.error) : error, now(), id);
    return jobFrom(this.#q('SELECT * FROM jobs WHERE id = ?').get(id) as Row);
  }

  transitionJob(id: number, to: JobState, error = ''): JobRecord {
    return this.relaxedTransaction(() => this.#transition(id, to, error));
  }

  recordResult(jobId: number, result: NewResult): void {
    this.relaxedTransaction(() => {
      const job = this.#q('SELECT * FROM jobs WHERE id = ?').get(jobId);
      if (job === undefined) throw new HipfracError('HF_SERVE_BAD_TRANSITION', `no job ${jobId}.`);
      if (str(job.sop_uid) !== result.sopInstanceUid) throw new HipfracError('HF_SERVE_STORE', `job ${jobId} is not the job of ${result.sopInstanceUid}.`);
      // The primary key on sop_uid keeps one result per image; a repeat (a job re-run after a crash) replaces it.
      this.#q(`INSERT OR REPLACE INTO results (sop_uid, study_uid, decision, fracture_probability, predicted, confidence, level, reason, heatmap, boxes, region_x, region_y, created_at)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        result.sopInstanceUid, str(job.study_uid), result.decision, result.fractureProbability, result.predicted, result.confidence,
        result.level, result.reason, result.heatmap, result.boxes === undefined ? null : JSON.stringify(result.boxes),
        result.regionOrigin?.[0] ?? 0, result.regionOrigin?.[1] ?? 0, now(),
      );
      this.#transition(jobId, result.decision === 'not-processed' ? 'failed' : 'done', result.decision === 'not-processed' ? result.reason : '');
    });
  }

  resultsOfStudy(studyInstanceUid: string): ResultRecord[] {
    return this.#q('SELECT * FROM results WHERE study_uid = ? ORDER BY sop_uid').all(studyInstanceUid).map(resultFrom);
  }

  jobsOfStudy(studyInstanceUid: string): JobRecord[] {
    return this.#q('SELECT * FROM jobs WHERE study_uid = ? ORDER BY id').all(studyInstanceUid).map(jobFrom);
  }

  recoverJobs(): number {
    return this.transaction(() => {
      let n = 0;
      for (const r of this.#q(`SELECT id, attempts FROM jobs WHERE state IN ('received', 'inferring')`).all()) {
        const job = this.#q('SELECT state FROM jobs WHERE id = ?').get(r.id) as Row;
        if (str(job.state) === 'received') this.#transition(Number(r.id), 'queued');
        else if (Number(r.attempts) >= this.#maxAttempts) this.#transition(Number(r.id), 'failed', `the worker stopped on this image ${Number(r.attempts)} times`);
        else this.#transition(Number(r.id), 'queued');
        n++;
      }
      return n;
    });
  }

  restartQuietPeriods(): number {
    return this.#q('UPDATE studies SET last_received_at = ? WHERE decided_revision < revision').run(now()).changes;
  }

  dueDeliveries(at: string, limit: number): DeliveryRecord[] {
    return this.#q(`SELECT * FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`).all(at, limit).map(deliveryFrom);
  }

  deliveriesOfStudy(studyInstanceUid: string): DeliveryRecord[] {
    return this.#q('SELECT * FROM deliveries WHERE study_uid = ? ORDER BY id').all(studyInstanceUid).map(deliveryFrom);
  }

  markDeliverySent(id: number): void {
    this.relaxedTransaction(() => {
      this.#q(`UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '' WHERE id = ?`).run(now(), id);
      const d = this.#q('SELECT study_uid FROM deliveries WHERE id = ?').get(id);
      if (d === undefined) return;
      const open = this.#q(`SELECT 1 FROM deliveries WHERE study_uid = ? AND state != 'sent' LIMIT 1`).get(d.study_uid);
      if (open === undefined) {
        this.#q(`UPDATE studies SET state = 'delivered' WHERE study_uid = ? AND state = 'decided'`).run(d.study_uid);
        this.#deliverJobs(str(d.study_uid));
      }
    });
  }

  markDeliveryRetry(id: number, error: string, nextAttemptAt: string, giveUp: boolean): void {
    this.relaxedTransaction(() => this.#q(`UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, state = ? WHERE id = ?`).run(error, nextAttemptAt, giveUp ? 'failed' : 'pending', id));
  }

  audit(actor: string, action: string, studyKey: string, detail = ''): void {
    this.#q('INSERT INTO audit_log (at, actor, action, study_key, detail) VALUES (?, ?, ?, ?, ?)').run(now(), actor, action, studyKey, detail);
  }

  auditLog(limit = 100): AuditEntry[] {
    return this.#q('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(limit).map((r) => ({
      id: Number(r.id), at: str(r.at), actor: str(r.actor), action: str(r.action), studyKey: str(r.study_key), detail: str(r.detail),
    }));
  }

  createToken(name: string, scopes: readonly TokenScope[]): { token: string; record: ApiTokenRecord } {
    if (scopes.length === 0 || scopes.some((s) => s !== 'read' && s !== 'admin')) {
      throw new HipfracError('HF_SERVE_BAD_TOKEN', `token scopes must be read and/or admin, got '${scopes.join(',')}'.`, { input: '--scope' });
    }
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    this.#q('INSERT INTO api_tokens (id, name, secret_sha256, scopes, created_at) VALUES (?, ?, ?, ?, ?)').run(id, name, sha256Hex(secret), [...new Set(scopes)].sort().join(','), now());
    return { token: `hft_${id}_${secret}`, record: tokenFrom(this.#q('SELECT * FROM api_tokens WHERE id = ?').get(id) as Row) };
  }

  verifyToken(token: string): ApiTokenRecord | undefined {
    const m = TOKEN_PATTERN.exec(token);
    if (m === null) return undefined;
    const row = this.#q('SELECT * FROM api_tokens WHERE id = ? AND revoked_at IS NULL').get(m[1]);
    if (row === undefined) return undefined;
    const expected = Buffer.from(str(row.secret_sha256), 'hex');
    const given = Buffer.from(sha256Hex(m[2] as string), 'hex');
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    // Last use to the minute: a client polling the API every second would otherwise write (and fsync) per request.
    const last = row.last_used_at === null ? Number.NaN : Date.parse(str(row.last_used_at));
    if (!(Date.now() - last < TOKEN_USE_RESOLUTION_MS)) this.#q('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(now(), m[1]);
    return tokenFrom(row);
  }

  revokeToken(id: string): void {
    this.#q('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now(), id);
  }

  listTokens(): ApiTokenRecord[] {
    return this.#q('SELECT * FROM api_tokens ORDER BY created_at').all().map(tokenFrom);
  }

  counts(): StoreCounts {
    const byStatus = new Map(this.#q('SELECT status, COUNT(*) AS n FROM instances GROUP BY status').all().map((r) => [str(r.status), Number(r.n)]));
    const jobs = new Map(this.#q('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all().map((r) => [str(r.state), Number(r.n)]));
    const deliveries = new Map(this.#q('SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state').all().map((r) => [str(r.state), Number(r.n)]));
    const states = Object.keys(JOB_TRANSITIONS) as JobState[];
    return {
      instancesReceived: [...byStatus.values()].reduce((a, b) => a + b, 0),
      instancesSkipped: byStatus.get('skipped') ?? 0,
      instancesQuarantined: byStatus.get('quarantined') ?? 0,
      jobs: Object.fromEntries(states.map((s) => [s, jobs.get(s) ?? 0])) as Record<JobState, number>,
      deliveries: { pending: deliveries.get('pending') ?? 0, sent: deliveries.get('sent') ?? 0, failed: deliveries.get('failed') ?? 0 },
      studiesDecided: Number((this.#q('SELECT COUNT(*) AS n FROM studies WHERE decided_at IS NOT NULL').get() as Row).n),
    };
  }

  queueDepth(): number {
    return Number((this.#q(`SELECT COUNT(*) AS n FROM jobs WHERE state IN ('received', 'queued')`).get() as Row).n);
  }

  close(): void {
    const checkpointer = this.#checkpointer;
    this.#checkpointer = undefined;
    checkpointer?.postMessage('close');
    void this.#wal?.then((h) => h.close(), () => undefined);
    this.#wal = undefined;
    if (this.database.open) this.database.close();
  }
}

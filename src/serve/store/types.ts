// The store's vocabulary: rows as the rest of the server sees them (camelCase, no SQL), the job state machine,
// and the `ServeStore` interface that a server database (PostgreSQL for several machines) can implement later.

/** The job of one received image. `received → queued → inferring → done | failed → delivered`. */
export type JobState = 'received' | 'queued' | 'inferring' | 'done' | 'failed' | 'delivered';

/** The allowed transitions; `inferring → queued` is the recovery of a job whose worker died (crash, restart). */
export const JOB_TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  received: ['queued'],
  queued: ['inferring', 'failed'],
  inferring: ['done', 'failed', 'queued'],
  done: ['delivered'],
  failed: ['delivered'],
  delivered: [],
};

/** What happened to an instance at receive time. */
export type InstanceStatus = 'stored' | 'skipped' | 'quarantined';

export interface InstanceRecord {
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly transferSyntaxUid: string;
  /** sha256 of the stored file (content address); '' for nothing kept. */
  readonly sha256: string;
  /** Path of the file relative to the data folder. */
  readonly file: string;
  readonly bytes: number;
  readonly status: InstanceStatus;
  /** Why the instance was skipped or quarantined; '' when stored. */
  readonly reason: string;
  /** Who sent it: `ae:CALLING_AE` or `token:ID`. */
  readonly source: string;
  readonly receivedAt: string;
  /** How often the same SOP Instance UID arrived (1 on the first). */
  readonly receiveCount: number;
}

/** The study's identifying context, kept in the store (PHI stays here and in the DICOM that goes back). */
export interface StudyContext {
  readonly studyInstanceUid: string;
  readonly patientId: string;
  readonly patientName: string;
  readonly accessionNumber: string;
  readonly studyDate: string;
}

/** receiving: images arriving or being inferred; decided: result made, deliveries pending; delivered: every destination has it. */
export type StudyState = 'receiving' | 'decided' | 'delivered';

export interface StudyRecord extends StudyContext {
  /** A pseudonymous key for logs, metrics and the audit log (no PHI). */
  readonly studyKey: string;
  readonly state: StudyState;
  readonly firstReceivedAt: string;
  readonly lastReceivedAt: string;
  readonly imageCount: number;
  /** The study decision once decided, else null. */
  readonly decision: string | null;
  readonly reason: string | null;
  readonly fractureProbability: number | null;
  readonly decidedAt: string | null;
  /** Increases each time late images change a study's result (its SR then gets a new revision). */
  readonly revision: number;
}

export interface JobRecord {
  readonly id: number;
  readonly sopInstanceUid: string;
  readonly studyInstanceUid: string;
  readonly state: JobState;
  readonly attempts: number;
  readonly error: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** One image's result: exactly one per image (the SOP Instance UID is its key). */
export interface ResultRecord {
  readonly sopInstanceUid: string;
  readonly studyInstanceUid: string;
  /** 'auto-report' | 'review' | 'not-processed' (quarantined, undecodable). */
  readonly decision: string;
  readonly fractureProbability: number | null;
  readonly predicted: string;
  readonly confidence: number | null;
  readonly level: string;
  readonly reason: string;
  /** Heatmap PNG relative to the data folder, '' when none. */
  readonly heatmap: string;
  /**
   * The box head's fracture boxes, [x0, y0, x1, y1] in the source image's pixels with a score, best first; null when
   * none were computed (a model without a box head, or an image auto-reported as intact).
   */
  readonly boxes: readonly ResultBox[] | null;
  /** Where the region the model saw (and the heatmap overlay) starts in the source's pixels: a localiser's crop, else [0, 0]. */
  readonly regionOrigin: readonly [number, number];
  readonly createdAt: string;
}

/** A predicted fracture box in the source image's pixels (x1/y1 exclusive) and its score (the box head's highest cell probability). */
export interface ResultBox {
  readonly box: readonly [number, number, number, number];
  readonly score: number;
}

export type DeliveryKind = 'sr' | 'sc';
export type DeliveryState = 'pending' | 'sent' | 'failed';

export interface DeliveryRecord {
  readonly id: number;
  readonly studyInstanceUid: string;
  readonly kind: DeliveryKind;
  /** The SOP Instance UID of the object sent (SR or Secondary Capture). */
  readonly sopInstanceUid: string;
  /** `AE@HOST:PORT`. */
  readonly destination: string;
  /** The DICOM file to send, relative to the data folder. */
  readonly file: string;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: string;
  readonly lastError: string;
  readonly sentAt: string | null;
}

export interface AuditEntry {
  readonly id: number;
  readonly at: string;
  /** `ae:NAME`, `token:ID`, `system`. */
  readonly actor: string;
  readonly action: string;
  /** The pseudonymous study key (never a patient identifier). */
  readonly studyKey: string;
  readonly detail: string;
}

export type TokenScope = 'read' | 'admin';

export interface ApiTokenRecord {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly TokenScope[];
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
}

export interface StudyFilter {
  readonly decision?: string;
  readonly state?: StudyState;
  /** 1-based page and page size (default 50, at most 500). */
  readonly page?: number;
  readonly pageSize?: number;
}

export interface NewInstance extends Omit<InstanceRecord, 'receivedAt' | 'receiveCount'> {
  readonly context: StudyContext;
}

export interface ReceiveOutcome {
  /** False when the SOP Instance UID was already stored: nothing new is queued. */
  readonly isNew: boolean;
  readonly instance: InstanceRecord;
  /** The job queued for a new image; undefined for re-sent, skipped or quarantined instances. */
  readonly job: JobRecord | undefined;
}

export type NewResult = Omit<ResultRecord, 'createdAt' | 'studyInstanceUid' | 'boxes' | 'regionOrigin'> & {
  /** Absent: none computed. */
  readonly boxes?: readonly ResultBox[];
  /** Absent: [0, 0]. */
  readonly regionOrigin?: readonly [number, number];
};

export interface StudyDecision {
  readonly decision: string;
  readonly reason: string;
  readonly fractureProbability: number | null;
}

export interface NewDelivery {
  readonly studyInstanceUid: string;
  readonly kind: DeliveryKind;
  readonly sopInstanceUid: string;
  readonly destination: string;
  readonly file: string;
}

export interface StoreCounts {
  readonly instancesReceived: number;
  readonly instancesSkipped: number;
  readonly instancesQuarantined: number;
  readonly jobs: Readonly<Record<JobState, number>>;
  readonly deliveries: Readonly<Record<DeliveryState, number>>;
  readonly studiesDecided: number;
}

/**
 * What the server needs from its database. Every method is one short transaction; every state change is a row
 * update inside the transaction that records it, so a `kill -9` between two calls loses nothing and repeats
 * nothing. Received instances, tokens, the audit log and `transaction` commit durably (they survive a power cut);
 * the pipeline's own state (claim, results, decisions, deliveries) commits without waiting for the disk, and what a
 * power cut undoes of it a restart redoes. Called inside `transaction`/`relaxedTransaction`, a method joins that
 * transaction. Methods are synchronous (SQLite in-process); a networked implementation would wrap them.
 */
export interface ServeStore {
  /** Runs `fn` in one transaction that is durable on return (joins an enclosing one). */
  transaction<T>(fn: () => T): T;
  /** Runs `fn` in one transaction committed without waiting for the disk (joins an enclosing one). */
  relaxedTransaction<T>(fn: () => T): T;
  /** Runs `fn` in one transaction and resolves once it is durable; the wait for the disk does not hold the caller's thread. */
  durableTransaction<T>(fn: () => T): Promise<T>;
  /**
   * Records a received instance (and its study, and for an image a job in state `queued`), idempotent by SOP Instance
   * UID. With `confirmed: false` the image's job stays `received` until `confirmInstances` (its file is still being
   * flushed): nothing runs it, and after a crash `unconfirmedInstances` names it for checking.
   */
  recordInstance(instance: NewInstance, options?: { readonly confirmed?: boolean }): ReceiveOutcome;
  /**
   * Queues the `received` jobs of instances recorded unconfirmed (the one move `received → queued`), all in one
   * commit; returns how many were waiting.
   */
  confirmInstances(sopInstanceUids: readonly string[]): number;
  /** Instances whose job is still `received`: recorded, their file not known to be on disk. */
  unconfirmedInstances(): InstanceRecord[];
  /**
   * Removes an instance recorded unconfirmed whose file was not kept (its sender never heard Success and sends it
   * again): its job, and its study when nothing else is left of it. Durable on return; false when there was no row.
   */
  forgetInstance(sopInstanceUid: string): boolean;
  getInstance(sopInstanceUid: string): InstanceRecord | undefined;
  instancesOfStudy(studyInstanceUid: string): InstanceRecord[];
  /** Marks a stored instance quarantined (undecodable pixel data) with its reason. */
  quarantineInstance(sopInstanceUid: string, reason: string): void;

  getStudy(studyInstanceUid: string): StudyRecord | undefined;
  listStudies(filter?: StudyFilter): { readonly studies: StudyRecord[]; readonly total: number };
  /** Studies whose last instance arrived before `quietSince` and whose jobs are all done or failed, not yet decided at this revision. */
  studiesReadyToDecide(quietSince: string): StudyRecord[];
  /** The earliest last-received time after `after` among studies not yet decided at their revision (whose quiet period still runs), or undefined. */
  earliestUndecidedReceivedAt(after: string): string | undefined;
  recordStudyDecision(studyInstanceUid: string, decision: StudyDecision, deliveries: readonly NewDelivery[]): void;

  /** Moves up to `limit` queued jobs to `inferring` (oldest first) and returns them. */
  claimJobs(limit: number): JobRecord[];
  /** Moves one job along the state machine; throws HF_SERVE_BAD_TRANSITION for a move it does not allow. */
  transitionJob(id: number, to: JobState, error?: string): JobRecord;
  /** Records the image's result and moves its job `inferring → done` (or `failed` for not-processed) in one transaction. */
  recordResult(jobId: number, result: NewResult): void;
  resultsOfStudy(studyInstanceUid: string): ResultRecord[];
  jobsOfStudy(studyInstanceUid: string): JobRecord[];
  /** After a restart (once unconfirmed instances are checked): `inferring` (and stray `received`) jobs go back to `queued` (failed past the attempt limit); returns how many jobs moved. */
  recoverJobs(): number;
  /**
   * After a restart, once the node listens again: undecided studies wait one more quiet period from now, so that
   * senders can re-send what a crash cut off before a study is decided on part of its images; returns how many.
   */
  restartQuietPeriods(): number;

  dueDeliveries(now: string, limit: number): DeliveryRecord[];
  deliveriesOfStudy(studyInstanceUid: string): DeliveryRecord[];
  markDeliverySent(id: number): void;
  markDeliveryRetry(id: number, error: string, nextAttemptAt: string, giveUp: boolean): void;

  audit(actor: string, action: string, studyKey: string, detail?: string): void;
  auditLog(limit?: number): AuditEntry[];

  /** Creates a token; the secret is returned once and only its hash is stored. */
  createToken(name: string, scopes: readonly TokenScope[]): { readonly token: string; readonly record: ApiTokenRecord };
  /** The token's record when the secret matches an unrevoked token, else undefined. */
  verifyToken(secret: string): ApiTokenRecord | undefined;
  revokeToken(id: string): void;
  listTokens(): ApiTokenRecord[];

  counts(): StoreCounts;
  queueDepth(): number;
  close(): void;
}

// The one way an object enters the node (C-STORE and STOW-RS alike): read its identity, keep its bytes by
// content with fsync, record it (and queue an image) durably — and only then report success.
import type { Logger } from 'pino';
import { nonImageReason, readDicomIdentity, transferSyntax, type DicomIdentity } from '../../dicom/index.js';
import { HipfracError } from '../../util/index.js';
import type { BlobStore, SqliteStore } from '../store/index.js';

/** How a receive ended, in DICOM's terms (C-STORE status classes) and for STOW-RS's response. */
export type IngestOutcome =
  | { readonly kind: 'stored'; readonly sopInstanceUid: string; readonly sopClassUid: string }
  | { readonly kind: 'duplicate'; readonly sopInstanceUid: string; readonly sopClassUid: string }
  | { readonly kind: 'skipped'; readonly sopInstanceUid: string; readonly sopClassUid: string; readonly reason: string }
  | { readonly kind: 'refused'; readonly code: 'too-large' | 'disk-full' | 'unreadable' | 'store-failed'; readonly reason: string; readonly sopInstanceUid?: string; readonly sopClassUid?: string };

export interface IngestOptions {
  /** Largest object accepted, in bytes (default 256 MiB). */
  readonly maxObjectBytes: number;
  /**
   * How long, in milliseconds, a stored image's job waits in `received` for others to be queued by the same commit
   * (default 20) instead of a commit of its own on the receiving thread; the sender is answered before, and a
   * restart queues whatever was still waiting.
   */
  readonly confirmAfterMs?: number;
}

/** C-STORE statuses (PS3.4 Annex B / PS3.7 Annex C) for each refusal. */
export const CSTORE_STATUS = {
  success: 0x0000,
  outOfResources: 0xa700,
  cannotUnderstand: 0xc000,
  processingFailure: 0x0110,
} as const;

export function cStoreStatusOf(outcome: IngestOutcome): number {
  if (outcome.kind !== 'refused') return CSTORE_STATUS.success;
  switch (outcome.code) {
    case 'too-large':
    case 'disk-full':
      return CSTORE_STATUS.outOfResources;
    case 'unreadable':
      return CSTORE_STATUS.cannotUnderstand;
    default:
      return CSTORE_STATUS.processingFailure;
  }
}

export type IngestListener = (outcome: IngestOutcome, studyKey: string | undefined) => void;
/** After a commit that failed, the wait before the jobs are tried again. */
const CONFIRM_RETRY_MS = 1000;

interface PendingCommit {
  readonly record: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export class Ingest {
  readonly #listeners: IngestListener[] = [];
  readonly #queuedListeners: (() => void)[] = [];
  #pending: PendingCommit[] = [];
  /** Images whose file and row are on disk, their jobs still `received`, to be queued by one commit. */
  #toConfirm: string[] = [];
  #confirmTimer: NodeJS.Timeout | undefined;
  /** Receives under way by SOP Instance UID. */
  readonly #inFlight = new Map<string, Promise<IngestOutcome>>();

  constructor(
    private readonly store: SqliteStore,
    private readonly blobs: BlobStore,
    private readonly logger: Logger,
    readonly options: IngestOptions,
  ) {}

  /** Called after each receive (metrics, waking the inference scheduler). */
  onIngest(listener: IngestListener): void {
    this.#listeners.push(listener);
  }

  /** Called when received images' jobs have been queued (waking the inference scheduler). */
  onQueued(listener: () => void): void {
    this.#queuedListeners.push(listener);
  }

  /**
   * Queues now the jobs of the stored images that wait for their shared commit (called as the node stops). One that
   * cannot be queued stays `received`: it is tried again, and a restart checks its file and queues it.
   */
  confirmPending(): void {
    if (this.#confirmTimer !== undefined) clearTimeout(this.#confirmTimer);
    this.#confirmTimer = undefined;
    const batch = this.#toConfirm;
    this.#toConfirm = [];
    if (batch.length === 0) return;
    let queued: number;
    try {
      queued = this.store.confirmInstances(batch);
    } catch (cause) {
      // A closed store (the node stopped): the next start finds them `received`.
      if (!this.store.database.open) return;
      this.logger.error({ images: batch.length, code: (cause as { code?: string }).code }, 'could not queue received images; trying again');
      this.#toConfirm = [...batch, ...this.#toConfirm];
      this.#confirmTimer = setTimeout(() => this.confirmPending(), CONFIRM_RETRY_MS).unref();
      return;
    }
    if (queued > 0) for (const l of this.#queuedListeners) l();
  }

  /** Refusal for an object over the size limit (the sender's bytes were not kept). */
  tooLarge(bytes: number, source: string): IngestOutcome {
    const outcome: IngestOutcome = { kind: 'refused', code: 'too-large', reason: `object of ${bytes} bytes exceeds the limit of ${this.options.maxObjectBytes} bytes` };
    this.logger.warn({ source, bytes, limit: this.options.maxObjectBytes }, 'object refused: over the size limit');
    this.#emit(outcome, undefined);
    return outcome;
  }

  /** Keeps and records one Part 10 object from `source` (`ae:NAME` or `token:ID`). Never throws. */
  async accept(part10: Uint8Array, source: string): Promise<IngestOutcome> {
    if (part10.byteLength > this.options.maxObjectBytes) return this.tooLarge(part10.byteLength, source);
    let id: DicomIdentity;
    try {
      id = readDicomIdentity(part10, '(received object)');
    } catch (cause) {
      const outcome: IngestOutcome = { kind: 'refused', code: 'unreadable', reason: (cause as Error).message };
      this.logger.warn({ source, code: (cause as { code?: string }).code }, 'object refused: not readable DICOM');
      this.#emit(outcome, undefined);
      return outcome;
    }
    // The same instance arriving on several associations at once: one at a time, each after the one before settled.
    for (let earlier = this.#inFlight.get(id.sopInstanceUid); earlier !== undefined; earlier = this.#inFlight.get(id.sopInstanceUid)) await earlier;
    const receiving = this.#keep(id, part10, source);
    this.#inFlight.set(id.sopInstanceUid, receiving);
    try {
      return await receiving;
    } finally {
      if (this.#inFlight.get(id.sopInstanceUid) === receiving) this.#inFlight.delete(id.sopInstanceUid);
    }
  }

  async #keep(id: DicomIdentity, part10: Uint8Array, source: string): Promise<IngestOutcome> {
    const known = this.store.getInstance(id.sopInstanceUid);
    const studyKey = this.store.studyKey(id.studyInstanceUid);
    if (known !== undefined) {
      // Re-sent: recognised by SOP Instance UID, counted, not stored or processed again.
      this.store.recordInstance(this.#newInstance(id, { sha256: known.sha256, file: known.file, bytes: known.bytes }, known.status, known.reason, source));
      const outcome: IngestOutcome = { kind: 'duplicate', sopInstanceUid: id.sopInstanceUid, sopClassUid: id.sopClassUid };
      this.logger.info({ source, studyKey }, 'instance re-sent: recognised, not processed again');
      this.#emit(outcome, studyKey);
      return outcome;
    }
    const skipReason = nonImageReason(id.sopClassUid) ?? (id.hasPixelData ? undefined : 'no pixel data') ?? (transferSyntax(id.transferSyntaxUid) === undefined ? 'transfer syntax not decodable' : undefined);
    const status = skipReason === undefined ? 'stored' : 'skipped';
    let recording = false;
    try {
      const { blob, durable } = await this.blobs.stage(part10);
      // An image's row commits while its file is flushed, its job held at `received` (never run; checked again after
      // a crash) until both are on disk: the two disk flushes overlap. A skipped object has no job to hold, so its
      // row waits for its file. The sender hears Success only after both.
      if (skipReason !== undefined) await durable;
      recording = true;
      const committed = this.#commit(() => {
        this.store.recordInstance(this.#newInstance(id, blob, status, skipReason ?? '', source), { confirmed: false });
        this.store.audit(source, 'receive', studyKey, status === 'stored' ? 'image stored and queued' : `skipped: ${skipReason}`);
      });
      const [flushed, record] = await Promise.allSettled([durable, committed]);
      if (record.status === 'rejected') throw record.reason;
      if (flushed.status === 'rejected') throw flushed.reason;
      if (skipReason === undefined) this.#confirmSoon(id.sopInstanceUid);
      const outcome: IngestOutcome = skipReason === undefined
        ? { kind: 'stored', sopInstanceUid: id.sopInstanceUid, sopClassUid: id.sopClassUid }
        : { kind: 'skipped', sopInstanceUid: id.sopInstanceUid, sopClassUid: id.sopClassUid, reason: skipReason };
      this.logger.info({ source, studyKey, status }, 'instance received');
      this.#emit(outcome, studyKey);
      return outcome;
    } catch (cause) {
      // A row committed for a file that did not reach the disk, or whose commit was not flushed, is taken back: the
      // sender hears a failure and sends again. (Nobody else recorded this instance: it was unknown above, and
      // receives of one SOP Instance UID take turns.)
      if (recording) this.#forget(id.sopInstanceUid, source, studyKey);
      const diskFull = cause instanceof HipfracError && cause.code === 'HF_SERVE_DISK_FULL';
      const outcome: IngestOutcome = { kind: 'refused', code: diskFull ? 'disk-full' : 'store-failed', reason: (cause as Error).message, sopInstanceUid: id.sopInstanceUid, sopClassUid: id.sopClassUid };
      this.logger.error({ source, studyKey, code: (cause as { code?: string }).code }, diskFull ? 'instance refused: disk full' : 'instance refused: could not be kept');
      this.#emit(outcome, studyKey);
      return outcome;
    }
  }

  /**
   * After a restart, before jobs run: each instance recorded while its file was being flushed is checked against its
   * content address. A whole file confirms it (its job is queued); otherwise its row is taken back, since its
   * sender never heard Success. Returns how many were confirmed and forgotten.
   */
  async recoverUnconfirmed(): Promise<{ readonly confirmed: number; readonly forgotten: number }> {
    const whole: string[] = [];
    let forgotten = 0;
    for (const instance of this.store.unconfirmedInstances()) {
      if (await this.blobs.holds(instance.file, instance.sha256)) {
        whole.push(instance.sopInstanceUid);
      } else {
        this.#forget(instance.sopInstanceUid, 'system', this.store.studyKey(instance.studyInstanceUid));
        forgotten++;
      }
    }
    return { confirmed: this.store.confirmInstances(whole), forgotten };
  }

  /** Queues the job of an image kept whole (file and row on disk) with the others of the next few milliseconds. */
  #confirmSoon(sopInstanceUid: string): void {
    this.#toConfirm.push(sopInstanceUid);
    // Unreferenced: a process that ends first leaves them `received`, and its next start queues them.
    this.#confirmTimer ??= setTimeout(() => this.confirmPending(), this.options.confirmAfterMs ?? 20).unref();
  }

  #forget(sopInstanceUid: string, actor: string, studyKey: string): void {
    try {
      this.store.transaction(() => {
        if (this.store.forgetInstance(sopInstanceUid)) this.store.audit(actor, 'receive-undone', studyKey, 'not kept; the sender was not told Success');
      });
    } catch (cause) {
      // Left unconfirmed: the next start checks it again.
      this.logger.error({ studyKey, code: (cause as { code?: string }).code }, 'could not take back the record of an instance whose file was not kept');
    }
  }

  /**
   * Group commit: records that arrive while one turn of the event loop runs (several associations at once) share
   * one transaction, and commits made while a disk flush runs share the next flush; each record runs in its own
   * savepoint, so one that fails fails alone. Nobody is answered before the flush that covers their record.
   */
  #commit<T>(record: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ record, resolve: resolve as (value: unknown) => void, reject });
      if (this.#pending.length === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      await this.store.durableTransaction(() => {
        for (const p of batch) {
          try {
            outcomes.push({ ok: true, value: this.store.transaction(p.record) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit or its flush failed: every sender hears a failure and sends again. (After a failed flush the rows
      // are committed but not known durable; the re-sent instance is then recognised by its SOP Instance UID.)
      for (const p of batch) p.reject(error);
      return;
    }
    for (const [i, p] of batch.entries()) {
      const o = outcomes[i];
      if (o?.ok === true) p.resolve(o.value);
      else p.reject(o?.error);
    }
  }

  #newInstance(id: DicomIdentity, blob: { sha256: string; file: string; bytes: number }, status: 'stored' | 'skipped' | 'quarantined', reason: string, source: string) {
    return {
      sopInstanceUid: id.sopInstanceUid,
      sopClassUid: id.sopClassUid,
      studyInstanceUid: id.studyInstanceUid,
      seriesInstanceUid: id.seriesInstanceUid,
      transferSyntaxUid: id.transferSyntaxUid,
      sha256: blob.sha256,
      file: blob.file,
      bytes: blob.bytes,
      status,
      reason,
      source,
      context: { studyInstanceUid: id.studyInstanceUid, patientId: id.patientId, patientName: id.patientName, accessionNumber: id.accessionNumber, studyDate: id.studyDate },
    };
  }

  #emit(outcome: IngestOutcome, studyKey: string | undefined): void {
    for (const l of this.#listeners) l(outcome, studyKey);
  }
}

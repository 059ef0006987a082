// Delivers results to the configured destinations: due deliveries grouped per destination, one association each,
// rounds at least minRoundGapMs apart, failures retried with exponential back-off (2 s doubling, at most 5 min
// apart), every attempt recorded.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { BlobStore, DeliveryRecord, SqliteStore } from '../store/index.js';
import { parseDestination, type Destination } from './destination.js';
import { storeFiles, type StoreScuResult } from './storeScu.js';

export interface SenderOptions {
  readonly callingAeTitle: string;
  /** First retry delay in ms (default 2000), doubled per attempt up to maxBackoffMs (default 300000). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How often due deliveries are looked for, in ms (default 1000). */
  readonly pollMs?: number;
  /**
   * Least time between the starts of two delivery rounds, in ms (default 250): a round asked for sooner runs when
   * the gap has passed. Under load the results of many studies then share one association; a lone study's go at once.
   */
  readonly minRoundGapMs?: number;
}

export class Sender {
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  /** When the last round started (performance.now()), and the round asked for before the gap passed. */
  #lastRound = Number.NEGATIVE_INFINITY;
  #later: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: SqliteStore,
    private readonly blobs: BlobStore,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    readonly options: SenderOptions,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => void this.tick(), this.options.pollMs ?? 1000);
  }

  /** Sends what is due now (also called right after a study is decided), or once the gap since the last round passed. */
  async tick(): Promise<void> {
    if (this.#running || this.#stopped) return;
    const wait = this.#lastRound + (this.options.minRoundGapMs ?? 250) - performance.now();
    if (wait > 0) {
      this.#later ??= setTimeout(() => {
        this.#later = undefined;
        void this.tick();
      }, wait);
      return;
    }
    this.#lastRound = performance.now();
    this.#running = true;
    try {
      const due = this.store.dueDeliveries(new Date().toISOString(), 200);
      const byDestination = new Map<string, DeliveryRecord[]>();
      for (const d of due) byDestination.set(d.destination, [...(byDestination.get(d.destination) ?? []), d]);
      for (const [destination, deliveries] of byDestination) await this.#send(destination, deliveries);
    } catch (error) {
      this.logger.error({ code: (error as { code?: string }).code, message: (error as Error).message }, 'delivery round failed');
    } finally {
      this.#running = false;
    }
  }

  async #send(destination: string, deliveries: readonly DeliveryRecord[]): Promise<void> {
    const to = parseDestination(destination);
    const files = deliveries.map((d) => this.blobs.absolute(d.file));
    const result = await storeFiles(files, to, this.options.callingAeTitle);
    if (this.#stopped) return;
    // One commit for the association's outcomes; if it fails, the deliveries stay pending and go again.
    this.store.relaxedTransaction(() => this.#record(to, files, deliveries, result));
  }

  #record(to: Destination, files: readonly string[], deliveries: readonly DeliveryRecord[], result: StoreScuResult): void {
    for (const [i, d] of deliveries.entries()) {
      const status = result.statuses.get(files[i] as string);
      const studyKey = this.store.getStudy(d.studyInstanceUid)?.studyKey ?? '';
      // Success, or a warning (0xB000-0xBFFF: e.g. coercion), counts as delivered.
      if (status !== undefined && (status === 0 || (status >= 0xb000 && status <= 0xbfff))) {
        this.store.markDeliverySent(d.id);
        this.store.audit('system', `deliver-${d.kind}`, studyKey, to.aeTitle);
        this.metrics.inc('hipfrac_deliveries_total', 'Result objects delivered', { kind: d.kind, outcome: 'sent' });
        continue;
      }
      const why = status === undefined ? (result.error ?? 'no response') : `C-STORE status 0x${status.toString(16).padStart(4, '0')}`;
      const delay = Math.min(this.options.maxBackoffMs ?? 300_000, (this.options.initialBackoffMs ?? 2000) * 2 ** d.attempts);
      this.store.markDeliveryRetry(d.id, why, new Date(Date.now() + delay).toISOString(), false);
      this.metrics.inc('hipfrac_deliveries_total', 'Result objects delivered', { kind: d.kind, outcome: 'retry' });
      this.logger.warn({ destination: to.aeTitle, studyKey, attempts: d.attempts + 1, retryInMs: delay, why }, 'delivery failed; will retry');
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    clearTimeout(this.#later);
    this.#later = undefined;
  }
}

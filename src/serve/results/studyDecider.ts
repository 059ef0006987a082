// When studies are decided. A study is ready once no image has arrived for its quiet period and every image has a
// result. A pass decides every ready study, oldest first; passes never overlap (a request during one runs one more
// after it). Passes run
// - at the earliest quiet deadline among the undecided studies (a timer set after each pass, and by the first image
//   a quiet node receives), so a study is decided when its quiet period ends, not up to a sweep later;
// - when results are recorded (a study whose quiet period ended while its images were inferred is ready then);
// - every `sweepMs` as a safety net (a result that could not be produced is tried again).
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { SqliteStore, StudyRecord } from '../store/index.js';

export interface StudyDeciderOptions {
  /** Seconds without a new image before a study is decided (the node's studyQuietSeconds). */
  readonly quietSeconds: number;
  /** Period of the safety-net pass in ms (default 500). */
  readonly sweepMs?: number;
}

/** Timers can fire a millisecond early; a deadline pass waits this much past the deadline. */
const DEADLINE_MARGIN_MS = 5;

export class StudyDecider {
  #running = false;
  #again = false;
  #stopped = true;
  #sweep: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Pick<SqliteStore, 'studiesReadyToDecide' | 'earliestUndecidedReceivedAt'>,
    /** Produces one study's result (StudyResults.produce); a failure is logged and the study tried again later. */
    private readonly produce: (study: StudyRecord) => Promise<void>,
    /** Called after each pass (the sender delivers what the pass queued). */
    private readonly afterPass: () => void,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    readonly options: StudyDeciderOptions,
  ) {}

  /** Starts the sweep and runs a first pass (which sets the first deadline). */
  start(): void {
    this.#stopped = false;
    this.#sweep = setInterval(() => this.request(), this.options.sweepMs ?? 500);
    this.request();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#sweep);
    clearTimeout(this.#deadline);
    this.#sweep = undefined;
    this.#deadline = undefined;
  }

  /** An image was received: with no deadline set, its study's quiet period ends `quietSeconds` from now. */
  received(): void {
    if (this.#deadline === undefined && !this.#stopped) this.#arm(Date.now() + this.options.quietSeconds * 1000);
  }

  /** Runs a pass now, or once more after the one in progress. */
  request(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    void this.#passes();
  }

  async #passes(): Promise<void> {
    this.#running = true;
    try {
      do {
        this.#again = false;
        await this.#pass();
        this.afterPass();
      } while (this.#again && !this.#stopped);
      this.#schedule();
    } catch (error) {
      this.logger.error({ code: (error as { code?: string }).code, message: (error as Error).message }, 'could not look for studies to decide');
    } finally {
      this.#running = false;
    }
  }

  async #pass(): Promise<void> {
    const quietSince = new Date(Date.now() - this.options.quietSeconds * 1000).toISOString();
    for (const study of this.store.studiesReadyToDecide(quietSince)) {
      if (this.#stopped) return;
      try {
        await this.produce(study);
        this.metrics.observe('hipfrac_study_decision_seconds', 'From the first image received to the study decided', (Date.now() - Date.parse(study.firstReceivedAt)) / 1000);
      } catch (error) {
        this.logger.error({ studyKey: study.studyKey, code: (error as { code?: string }).code, message: (error as Error).message }, 'could not produce the study result');
      }
    }
  }

  /**
   * The next deadline: the end of the earliest quiet period still running. A study whose period has ended but whose
   * images are still being inferred needs no timer: recording their results requests a pass.
   */
  #schedule(): void {
    if (this.#stopped) return;
    const quiet = this.options.quietSeconds * 1000;
    const earliest = this.store.earliestUndecidedReceivedAt(new Date(Date.now() - quiet).toISOString());
    if (earliest !== undefined) {
      this.#arm(Date.parse(earliest) + quiet);
    } else {
      clearTimeout(this.#deadline);
      this.#deadline = undefined;
    }
  }

  #arm(at: number): void {
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined;
      this.request();
    }, Math.max(0, at - Date.now()) + DEADLINE_MARGIN_MS);
  }
}

// A terminal progress bar with rate and ETA, written to stderr; silent when stderr is not a TTY
// except for a line every few seconds, so CI logs show progress without flooding.

export interface ProgressOptions {
  readonly label: string;
  readonly total: number;
  readonly unit?: string;
  readonly stream?: NodeJS.WriteStream;
}

export class ProgressBar {
  private done = 0;
  private readonly start = Date.now();
  private lastDraw = 0;
  private suffix = '';
  private readonly stream: NodeJS.WriteStream;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
  }

  /** Advances by `n` and optionally replaces the trailing status text (e.g. "loss 0.41"). */
  tick(n = 1, suffix?: string): void {
    this.done += n;
    if (suffix !== undefined) this.suffix = suffix;
    const now = Date.now();
    const interval = this.stream.isTTY ? 100 : 5000;
    if (now - this.lastDraw >= interval || this.done >= this.options.total) {
      this.lastDraw = now;
      this.draw(now);
    }
  }

  setStatus(suffix: string): void {
    this.suffix = suffix;
  }

  finish(summary?: string): void {
    this.draw(Date.now());
    if (this.stream.isTTY) this.stream.write('\n');
    if (summary !== undefined) this.stream.write(`${summary}\n`);
  }

  private draw(now: number): void {
    const { total, label } = this.options;
    const unit = this.options.unit ?? 'it';
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const remaining = rate > 0 ? (total - this.done) / rate : Number.NaN;
    const frac = total > 0 ? Math.min(1, this.done / total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const line = `${label} ${bar} ${this.done}/${total} ${rate.toFixed(1)} ${unit}/s ETA ${formatSeconds(remaining)} ${this.suffix}`;
    if (this.stream.isTTY) this.stream.write(`\r${line.padEnd(100)}`);
    else this.stream.write(`${line}\n`);
  }
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const mm = String(m % 60).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

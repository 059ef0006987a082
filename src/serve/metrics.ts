// Prometheus text exposition by hand: counters, gauges read at scrape time, and histograms with fixed buckets.
// Labels carry no patient data (outcome kinds, destinations' AE titles at most).

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

class Histogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    LATENCY_BUCKETS.forEach((b, i) => {
      if (seconds <= b) this.counts[i] = (this.counts[i] as number) + 1;
    });
  }
}

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labelText = (labels: Readonly<Record<string, string>>): string => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
};

export class Metrics {
  readonly #counters = new Map<string, { help: string; values: Map<string, number> }>();
  readonly #histograms = new Map<string, { help: string; h: Histogram }>();
  readonly #gauges = new Map<string, { help: string; read: () => number | Readonly<Record<string, number>>; label: string }>();

  /** Adds `by` to a counter (created on first use) with optional labels. */
  inc(name: string, help: string, labels: Readonly<Record<string, string>> = {}, by = 1): void {
    const c = this.#counters.get(name) ?? { help, values: new Map<string, number>() };
    this.#counters.set(name, c);
    const key = labelText(labels);
    c.values.set(key, (c.values.get(key) ?? 0) + by);
  }

  observe(name: string, help: string, seconds: number): void {
    const h = this.#histograms.get(name) ?? { help, h: new Histogram() };
    this.#histograms.set(name, h);
    h.h.observe(seconds);
  }

  /** A gauge read when scraped; a record becomes one series per key under `label`. */
  gauge(name: string, help: string, read: () => number | Readonly<Record<string, number>>, label = 'state'): void {
    this.#gauges.set(name, { help, read, label });
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, c] of this.#counters) {
      lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      for (const [labels, v] of c.values) lines.push(`${name}${labels} ${v}`);
    }
    for (const [name, g] of this.#gauges) {
      lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`);
      const v = g.read();
      if (typeof v === 'number') lines.push(`${name} ${v}`);
      else for (const [k, n] of Object.entries(v)) lines.push(`${name}${labelText({ [g.label]: k })} ${n}`);
    }
    for (const [name, { help, h }] of this.#histograms) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      LATENCY_BUCKETS.forEach((b, i) => lines.push(`${name}_bucket{le="${b}"} ${h.counts[i]}`));
      lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

/**
 * A small metrics registry: counters and gauges, with labels, rendered in the
 * Prometheus text exposition format 0.0.4 (docs/PROTOCOL.md §6.2).
 *
 * The hot path is `child.inc()`: an integer added to a field of an object the
 * caller looked up once (`family.labels('2xx')`) and kept. Anything that costs
 * more (reading /proc, summing socket byte counts) is done by a `collect`
 * function, called only when the metrics are rendered.
 */

/** The Content-Type of the text exposition format, version 0.0.4. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type MetricType = 'counter' | 'gauge';

export interface MetricOptions<F> {
  name: string;
  help: string;
  /** Label names, in the order `labels(...)` takes their values. */
  labelNames?: readonly string[];
  /** Called before each rendering, to set values kept elsewhere. */
  collect?: (family: F) => void;
}

/** One time series of a counter: only goes up (or is set from a total kept elsewhere). */
export class CounterChild {
  value = 0;
  constructor(readonly labelValues: readonly string[]) {}
  inc(amount = 1): void {
    this.value += amount;
  }
  /** For collectors reading a monotonic total kept elsewhere (e.g. socket byte counts). */
  set(value: number): void {
    this.value = value;
  }
}

/** One time series of a gauge: goes up and down. */
export class GaugeChild {
  value = 0;
  constructor(readonly labelValues: readonly string[]) {}
  inc(amount = 1): void {
    this.value += amount;
  }
  dec(amount = 1): void {
    this.value -= amount;
  }
  set(value: number): void {
    this.value = value;
  }
}

/** A metric and its time series, one per combination of label values. */
abstract class Family<C extends CounterChild | GaugeChild> {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly children = new Map<string, C>();
  /** @internal */
  readonly collector: ((family: never) => void) | undefined;

  constructor(options: MetricOptions<never>) {
    if (!METRIC_NAME.test(options.name)) throw new TypeError(`bad metric name: ${options.name}`);
    const labelNames = options.labelNames ?? [];
    for (const label of labelNames) {
      // Names beginning with "__" are reserved for Prometheus itself.
      if (!LABEL_NAME.test(label) || label.startsWith('__')) throw new TypeError(`bad label name: ${label}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new TypeError(`label names repeat in ${options.name}`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labelNames;
    this.collector = options.collect;
    // A metric without labels has its one series from the start, so it renders as 0.
    if (labelNames.length === 0) this.labels();
  }

  protected abstract create(values: readonly string[]): C;

  /** The series for these label values (created on first use); keep it for the hot path. */
  labels(...values: (string | number)[]): C {
    if (values.length !== this.labelNames.length) {
      throw new TypeError(`${this.name} takes ${this.labelNames.length} label values, got ${values.length}`);
    }
    const strings = values.map(String);
    const key = strings.join('\u0000');
    let child = this.children.get(key);
    if (!child) this.children.set(key, (child = this.create(strings)));
    return child;
  }

  /** Every series, in the order they were first used. */
  series(): IterableIterator<C> {
    return this.children.values();
  }

  /** Forgets every series (for collectors that rebuild a labelled family on each scrape). */
  clear(): void {
    this.children.clear();
    if (this.labelNames.length === 0) this.labels();
  }
}

export class Counter extends Family<CounterChild> {
  readonly type = 'counter';
  protected create(values: readonly string[]): CounterChild { return new CounterChild(values); }
  /** For a metric without labels. */
  inc(amount = 1): void { this.labels().inc(amount); }
  get value(): number { return this.labels().value; }
}

export class Gauge extends Family<GaugeChild> {
  readonly type = 'gauge';
  protected create(values: readonly string[]): GaugeChild { return new GaugeChild(values); }
  /** For a metric without labels. */
  inc(amount = 1): void { this.labels().inc(amount); }
  dec(amount = 1): void { this.labels().dec(amount); }
  set(value: number): void { this.labels().set(value); }
  get value(): number { return this.labels().value; }
}

/**
 * The metrics of one server. Every layer registers its own families here
 * (the HTTP server its connections and refusals, the push layer its
 * subscriptions and deliveries) and keeps the series it increments.
 */
export class MetricsRegistry {
  private readonly families = new Map<string, Counter | Gauge>();

  counter(options: MetricOptions<Counter>): Counter {
    return this.add(new Counter(options as MetricOptions<never>));
  }

  gauge(options: MetricOptions<Gauge>): Gauge {
    return this.add(new Gauge(options as MetricOptions<never>));
  }

  /** A family registered before, or undefined. */
  get(name: string): Counter | Gauge | undefined {
    return this.families.get(name);
  }

  private add<F extends Counter | Gauge>(family: F): F {
    if (this.families.has(family.name)) throw new Error(`metric ${family.name} is already registered`);
    this.families.set(family.name, family);
    return family;
  }

  /** Runs the collectors, then renders every family in the text format 0.0.4. */
  render(): string {
    let out = '';
    for (const family of this.families.values()) {
      if (family.collector) (family.collector as (f: typeof family) => void)(family);
      out += renderFamily(family);
    }
    return out;
  }
}

/** One family: its `# HELP` and `# TYPE` lines, then a line per series. */
export function renderFamily(family: Counter | Gauge): string {
  let out = `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
  for (const child of family.series()) {
    out += family.name;
    if (family.labelNames.length > 0) {
      out += '{';
      for (let i = 0; i < family.labelNames.length; i++) {
        if (i > 0) out += ',';
        out += `${family.labelNames[i]}="${escapeLabelValue(child.labelValues[i]!)}"`;
      }
      out += '}';
    }
    out += ` ${formatValue(child.value)}\n`;
  }
  return out;
}

/** HELP text: backslash and line feed are escaped (the format's only two escapes there). */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** Label values: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(text: string): string {
  return text.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** A sample value as the format writes it: Go's float syntax, with NaN, +Inf and -Inf. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/**
 * prom-client's counter and histogram, re-implemented for the two metrics updated on every query
 * (query duration, cache results): prom-client validates and hashes the labels on every update;
 * here an update is a Map lookup per label value (a tree keyed by each label's value in turn), with
 * no string built, and the records are turned into prom-client's form only when scraped.
 * What is relied on in prom-client (pinned to an exact version in package.json; checked by
 * test/unit/labelled-metrics.contract.test.ts against prom-client's own Counter and Histogram): a
 * Registry takes any object with `name`, `help`, `type`, `aggregator`, `get()` and `reset()`
 * through `registerMetric`, and writes the `values` that `get()` returns (bucket samples carrying
 * `le` and `metricName`) in its text format.
 */
import type { Registry } from 'prom-client';

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What prom-client's registry reads from a metric when it is scraped. */
interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

interface Options<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: Registry[];
}

/** A metric kept in plain per-label-set records, registered in a prom-client Registry like its own. */
abstract class LabelledMetric<L extends string, R> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  protected readonly records: { labels: Record<L, string>; record: R }[] = [];
  private tree = new Map<string, unknown>();

  constructor(protected readonly options: Options<L>) {
    this.name = options.name;
    this.help = options.help;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  protected recordOf(labels: Record<L, string>): R {
    const names = this.options.labelNames;
    let node = this.tree;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const value = labels[names[i] as L];
      let next = node.get(value) as Map<string, unknown> | undefined;
      if (next === undefined) node.set(value, (next = new Map()));
      node = next;
    }
    const value = last >= 0 ? labels[names[last] as L] : '';
    let record = node.get(value) as R | undefined;
    if (record === undefined) {
      const copy = {} as Record<L, string>;
      for (const name of names) copy[name] = labels[name];
      record = this.fresh();
      node.set(value, record);
      this.records.push({ labels: copy, record });
    }
    return record;
  }

  protected abstract fresh(): R;

  reset(): void {
    this.records.length = 0;
    this.tree = new Map();
  }
}

export class LabelledCounter<L extends string> extends LabelledMetric<L, { value: number }> {
  readonly type = 'counter' as const;

  inc(labels: Record<L, string>, by = 1): void {
    this.recordOf(labels).value += by;
  }

  protected fresh(): { value: number } {
    return { value: 0 };
  }

  get(): Promise<Collected> {
    const values = this.records.map(({ labels, record }) => ({ labels, value: record.value }));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}

interface Buckets {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

export class LabelledHistogram<L extends string> extends LabelledMetric<L, Buckets> {
  readonly type = 'histogram' as const;
  private readonly bounds: readonly number[];

  constructor(options: Options<L> & { buckets: readonly number[] }) {
    super(options);
    this.bounds = [...options.buckets].sort((a, b) => a - b);
  }

  observe(labels: Record<L, string>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`${this.name}: not a finite number: ${String(value)}`);
    const record = this.recordOf(labels);
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i += 1;
    record.counts[i] = (record.counts[i] as number) + 1;
    record.sum += value;
    record.count += 1;
  }

  protected fresh(): Buckets {
    return { counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
  }

  get(): Promise<Collected> {
    const values: Sample[] = [];
    for (const { labels, record } of this.records) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += record.counts[i] as number;
        values.push({ labels: { le: bound, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: record.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: record.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: record.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}

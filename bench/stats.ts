/** Latency figures of one series, in milliseconds. */
export interface Summary {
  count: number;
  median: number;
  p99: number;
  mean: number;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length);
  return { count: sorted.length, median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), mean };
}

export function median(values: readonly number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** Runs `op` sequentially `count` times and returns each call's latency in ms. */
export async function timeSequential(count: number, op: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await op();
    samples[i] = performance.now() - started;
  }
  return samples;
}

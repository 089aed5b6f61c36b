import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LabelledCounter, LabelledHistogram } from '../../src/metrics/labelled-metrics.js';

const buckets = [0.001, 0.01, 0.1, 1];
const require = createRequire(import.meta.url);
const pinned = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    dependencies: Record<string, string>;
  }
).dependencies;

/** The contract of src/metrics/labelled-metrics.ts with prom-client: an upgrade that changes it fails here. */
describe('LabelledHistogram and LabelledCounter', () => {
  it('run on the exact prom-client version package.json pins', () => {
    expect(pinned['prom-client']).toMatch(/^\d+\.\d+\.\d+$/);
    expect((require('prom-client/package.json') as { version: string }).version).toBe(pinned['prom-client']);
  });

  it('expose exactly what prom-client would for the same updates', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const spec = { help: 'Queries.', labelNames: ['integration', 'outcome'] as const, buckets };
    const h1 = new Histogram({ name: 'q_seconds', ...spec, registers: [theirs] });
    const h2 = new LabelledHistogram({ name: 'q_seconds', ...spec, registers: [ours] });
    const c1 = new Counter({
      name: 'c_total',
      help: 'Hits.',
      labelNames: ['integration', 'result'] as const,
      registers: [theirs],
    });
    const c2 = new LabelledCounter({
      name: 'c_total',
      help: 'Hits.',
      labelNames: ['integration', 'result'] as const,
      registers: [ours],
    });
    const values = [0, 0.001, 0.0011, 0.05, 0.5, 1, 7, 0.01];
    for (const [i, v] of values.entries()) {
      const labels = { integration: i % 3 ? 'orders' : 'odd "name"\\', outcome: i % 2 ? 'ok' : 'DB_QUERY_FAILED' };
      h1.observe(labels, v);
      h2.observe(labels, v);
      c1.inc({ integration: labels.integration, result: 'hit' });
      c2.inc({ integration: labels.integration, result: 'hit' });
    }
    c1.inc({ integration: 'orders', result: 'miss' }, 3);
    c2.inc({ integration: 'orders', result: 'miss' }, 3);
    const sorted = (text: string) => text.split('\n').sort();
    expect(sorted(await ours.metrics())).toEqual(sorted(await theirs.metrics()));
    ours.resetMetrics();
    expect(await ours.metrics()).not.toContain('orders');
  });

  it('refuses a value that is not a finite number', () => {
    const h = new LabelledHistogram({
      name: 'x_seconds',
      help: 'x',
      labelNames: ['a'] as const,
      buckets,
      registers: [],
    });
    expect(() => h.observe({ a: 'b' }, Number.NaN)).toThrow(/x_seconds: not a finite number/);
  });
});

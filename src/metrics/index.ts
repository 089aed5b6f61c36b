export { createMetrics } from './create-metrics.js';
export type { Metrics, PoolStats } from './create-metrics.js';

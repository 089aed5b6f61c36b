export { createPoolRegistry } from './pool-registry.js';
export type { PoolLease, PoolRegistry, PoolRegistryOptions } from './pool-registry.js';
export { runQuery } from './run-query.js';
export type { QueryResult } from './run-query.js';
export { mapPgError } from './map-pg-error.js';

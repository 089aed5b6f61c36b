export { createPoolRegistry } from './pool-registry.js';
export type { LeaseRequest, PoolRegistry, PoolRegistryOptions } from './pool-registry.js';
export { leasePool } from './pool-lease.js';
export type { PoolLease } from './pool-lease.js';
export { DEFAULT_MAX_MESSAGE_BYTES, runQuery } from './run-query.js';
export type { QueryLimits, QueryResult, RunQueryOptions } from './run-query.js';
export { ERROR_TEXT_MAX, mapPgError, scrubConnectionDetails } from './map-pg-error.js';
export type { ConnectionDetails } from './map-pg-error.js';
export type { Truncation } from './capped-query.js';

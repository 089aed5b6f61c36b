import type pg from 'pg';
import { QuerySessions } from './query-sessions.js';

/** A pool lent for one query; release it when the query is done. */
export interface PoolLease {
  pool: pg.Pool;
  /**
   * A client of the pool. Under a connection limit (the integration's or the server's), waits up to
   * the connect timeout for a connection to close, then fails with CONNECTION_LIMIT.
   */
  connect(): Promise<pg.PoolClient>;
  release(): void;
  /** The sessions of the pool's clients (shared by the pools of one registry). */
  sessions: QuerySessions;
}

/** A lease on a pool made outside a registry, with no connection limits beyond the pool's own. */
export function leasePool(pool: pg.Pool, sessions: QuerySessions = new QuerySessions()): PoolLease {
  return { pool, connect: () => pool.connect(), release: () => undefined, sessions };
}

import type pg from 'pg';
import { CredflowError } from '../errors.js';
import type { ConnectionLimitKind, ConnectionLimits } from './connection-limits.js';
import { isPoolQueueTimeout } from './pg-internals.js';
import { closeOneIdle, type PoolEntry } from './pool-entry.js';

export interface PoolCheckoutOptions {
  limits: ConnectionLimits;
  /** Connections per integration (CREDFLOW_POOL_MAX) and per server (CREDFLOW_UPSTREAM_MAX_CONNECTIONS). */
  max: number;
  serverMax: number;
  connectTimeoutMs: number;
  onLimit?: ((integration: string, limit: ConnectionLimitKind) => void) | undefined;
  /** Every pool of the registry, current and draining, the draining ones first. */
  pools(): PoolEntry[];
}

export interface PoolCheckout {
  /** A client of the entry's pool, waiting up to the connect timeout for room under the connection limits. */
  connect(entry: PoolEntry): Promise<pg.PoolClient>;
  /** The CONNECTION_LIMIT refusal of a connection the limit `kind` kept out. */
  limitError(entry: PoolEntry, kind: ConnectionLimitKind): CredflowError;
}

/** How a query of a registry's pool gets its client under the connection limits. */
export function createPoolCheckout(options: PoolCheckoutOptions): PoolCheckout {
  const { limits, max, serverMax, connectTimeoutMs } = options;

  const limitError = (entry: PoolEntry, kind: ConnectionLimitKind): CredflowError => {
    const retryAfterSeconds = 1;
    const wait = `no connection freed within ${connectTimeoutMs} ms; retry later`;
    if (kind === 'integration') {
      const draining = options
        .pools()
        .filter((e) => e.retired && e.integration === entry.integration)
        .reduce((sum, e) => sum + e.open, 0);
      return new CredflowError(
        'CONNECTION_LIMIT',
        `integration "${entry.integration}": all ${max} connections the integration may hold are in use (CREDFLOW_POOL_MAX; ${draining} of them in pools draining after an invalidate, reload or rotation); ${wait}`,
        {
          details: {
            integration: entry.integration,
            limit: 'integration',
            max,
            open: limits.openBy(entry.integration),
            draining,
            retryAfterSeconds,
          },
        },
      );
    }
    return new CredflowError(
      'CONNECTION_LIMIT',
      `integration "${entry.integration}": the agent holds all ${serverMax} connections it may open to this integration's database server (CREDFLOW_UPSTREAM_MAX_CONNECTIONS, shared by every integration on that server); ${wait}`,
      {
        details: {
          integration: entry.integration,
          limit: 'server',
          max: serverMax,
          open: entry.server === undefined ? undefined : limits.openTo(entry.server),
          retryAfterSeconds,
        },
      },
    );
  };

  const isLimit = (error: unknown): error is CredflowError =>
    error instanceof CredflowError && error.code === 'CONNECTION_LIMIT';

  const waitForRoom = async (entry: PoolEntry, ms: number): Promise<boolean> => {
    entry.waitingForRoom += 1;
    try {
      return await limits.waitForRoom(ms);
    } finally {
      entry.waitingForRoom -= 1;
    }
  };

  /**
   * Closes one idle connection of another pool that counts against the limit that refused `entry`
   * (the same server, or the same integration's other pools), so that connections nobody uses do
   * not keep a query out: pools hold idle connections for their idle timeout. Should a query of that
   * pool take the idle client first, this checkout waits or opens one within the limits like any
   * other, and closes it all the same.
   */
  const reclaimIdle = (entry: PoolEntry, kind: ConnectionLimitKind): void => {
    let victim: PoolEntry | undefined;
    for (const other of options.pools()) {
      if (other === entry || other.pool.idleCount === 0) continue;
      const counts =
        kind === 'server'
          ? other.server !== undefined && other.server === entry.server
          : other.integration === entry.integration;
      if (!counts) continue;
      if (victim === undefined || other.pool.idleCount > victim.pool.idleCount) victim = other;
    }
    if (victim !== undefined) closeOneIdle(victim);
  };

  const connect = async (entry: PoolEntry): Promise<pg.PoolClient> => {
    const deadline = Date.now() + connectTimeoutMs;
    for (;;) {
      try {
        return await entry.pool.connect();
      } catch (error) {
        let refusal: CredflowError | undefined;
        if (isLimit(error)) refusal = error;
        // The pool itself was full (its own queries hold every connection) for the whole connect timeout.
        else if (isPoolQueueTimeout(error)) refusal = limitError(entry, 'integration');
        if (refusal === undefined) throw error;
        const left = deadline - Date.now();
        if (isLimit(error)) reclaimIdle(entry, error.details?.limit as ConnectionLimitKind);
        if (left <= 0 || !isLimit(error) || !(await waitForRoom(entry, left))) {
          options.onLimit?.(entry.integration, refusal.details?.limit as ConnectionLimitKind);
          throw refusal;
        }
      }
    }
  };

  return { connect, limitError };
}

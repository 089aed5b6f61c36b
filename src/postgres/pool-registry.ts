import pg from 'pg';
import type { Logger } from 'pino';
import type { PoolStats } from '../metrics/index.js';
import { ConnectionLimits, type ConnectionLimitKind } from './connection-limits.js';
import { guardedClient } from './guarded-client.js';
import { closeConnectionsOnRelease } from './pg-internals.js';
import { createPoolCheckout } from './pool-checkout.js';
import { closeOneIdle, type PoolEntry } from './pool-entry.js';
import type { PoolLease } from './pool-lease.js';
import { QuerySessions } from './query-sessions.js';
import { poolConnection, type PoolConnection } from './rds-iam-connection.js';
import type { RdsIamTokens } from '../secrets/index.js';

export interface PoolRegistryOptions {
  logger: Logger;
  /** Connections per pool, and per integration over all its pools, draining ones included. */
  max: number;
  /** Connections all pools may hold to one server (host:port), draining ones included (default: unbounded). */
  serverMax?: number;
  /** Also how long a query waits for room under a connection limit. */
  connectTimeoutMs: number;
  /** Called when a query gets CONNECTION_LIMIT (for the metric). */
  onLimit?: (integration: string, limit: ConnectionLimitKind) => void;
  /** Server-side statement_timeout (0: none), so no query holds a connection forever. */
  statementTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Largest backend message (other than a DataRow during a query) a connection accepts, from its first byte. */
  maxMessageBytes: number;
  /** Signs the tokens of integrations with auth "rds-iam". */
  rdsIamTokens?: RdsIamTokens | undefined;
  /** Told when the last pool on a connection key has ended (its credentials' Vault leases can go). */
  onPoolEnd?: (connectionKey: string) => void;
}

/** An integration's connections, for its status. */
export interface ConnectionFigures {
  /** Open connections of all the integration's pools (every profile, draining ones included), and their limit. */
  integration: { open: number; max: number };
  /** Open connections of all pools to the server of the integration's current pool, and their limit. */
  server: { open: number; max: number } | undefined;
}

export interface LeaseRequest {
  integration: string;
  profile: string;
  /** Hash of the resolved connection; the registry never keys anything by a password. */
  connectionKey: string;
  /** Where and as whom to connect (a resolved connection: its fields or a connectionString, ssl, and maybe auth). */
  connection: PoolConnection;
  /** The generation of the credentials (default 0); an older one never replaces a newer pool. */
  generation?: number | undefined;
  /** Server-side statement_timeout for a new pool (default: the registry's). */
  statementTimeoutMs?: number | undefined;
}

export interface PoolRegistry {
  /**
   * The pool for these credentials; a pool built on older credentials of the same integration and
   * profile is drained. A request still holding credentials older than the current pool's (a lower
   * `generation`) gets the current pool rather than replacing it.
   */
  lease(request: LeaseRequest): PoolLease;
  /** Drains every pool of an integration (all profiles); running queries finish first. */
  drop(integration: string): number;
  /** Every open pool: the current ones, and the draining ones (`draining: true`) until they end. */
  stats(): PoolStats[];
  /** Connections of an integration and of the server its pool for `profile` connects to. */
  connections(integration: string, profile: string): ConnectionFigures;
  /** Whether a pool on these credentials is open (current, or draining and not yet ended). */
  hasPool(connectionKey: string): boolean;
  /** Ends every pool, waiting for the queries that use them. */
  close(): Promise<void>;
}

/**
 * One pg.Pool per integration, profile and set of resolved credentials. When credentials change,
 * the old pool is retired: it ends once the queries that hold a lease on it (running, or queued for
 * a connection) are done, so none of them is stranded.
 */
export function createPoolRegistry(options: PoolRegistryOptions): PoolRegistry {
  // The current pool of each integration, by profile.
  const entries = new Map<string, Map<string, PoolEntry>>();
  const retiring = new Set<PoolEntry>();
  const all = (): PoolEntry[] => [...entries.values()].flatMap((byProfile) => [...byProfile.values()]);
  const serverMax = options.serverMax ?? Number.MAX_SAFE_INTEGER;
  const limits = new ConnectionLimits({ perIntegration: options.max, perServer: serverMax });

  const sessions = new QuerySessions();
  const checkout = createPoolCheckout({
    limits,
    max: options.max,
    serverMax,
    connectTimeoutMs: options.connectTimeoutMs,
    onLimit: options.onLimit,
    pools: () => [...retiring, ...all()],
  });

  // A retired pool stays in `retiring` (seen in stats) until it has ended and its last socket closed.
  const forget = (entry: PoolEntry): void => {
    if (entry.poolEnded && entry.open === 0) retiring.delete(entry);
  };
  const hasPool = (connectionKey: string): boolean =>
    [...all(), ...retiring].some((e) => e.connectionKey === connectionKey && !e.poolEnded);
  const end = (entry: PoolEntry): void => {
    entry.ended ??= entry.pool
      .end()
      .catch(() => undefined)
      .then(() => {
        entry.poolEnded = true;
        forget(entry);
        if (!hasPool(entry.connectionKey)) options.onPoolEnd?.(entry.connectionKey);
      });
  };
  const retire = (entry: PoolEntry, why: string): void => {
    options.logger.info(
      { event: 'pool.retire', integration: entry.integration, profile: entry.profile, reason: why },
      'draining pool',
    );
    entry.retired = true;
    // A draining pool serves only the queries that already hold it: each connection they hand back
    // closes at once (unless one of them is waiting for it), so it stops counting against the limits.
    closeConnectionsOnRelease(entry.pool);
    retiring.add(entry);
    if (entry.inUse === 0) return end(entry);
    // Its idle connections close now rather than at their idle timeout: checked out and discarded
    // (pg-pool lends an idle client before it makes one; should a query of the pool take it first,
    // this checkout waits or opens one like any other, within the limits, and discards it).
    for (let i = entry.pool.idleCount; i > 0; i -= 1) closeOneIdle(entry);
  };
  const lend = (entry: PoolEntry): PoolLease => {
    entry.inUse += 1;
    let released = false;
    return {
      pool: entry.pool,
      connect: () => checkout.connect(entry),
      sessions,
      release() {
        if (released) return;
        released = true;
        entry.inUse -= 1;
        if (entry.retired && entry.inUse === 0) end(entry);
      },
    };
  };

  return {
    lease(request) {
      const { integration, profile, connectionKey, connection, generation = 0 } = request;
      const statementTimeoutMs = request.statementTimeoutMs ?? options.statementTimeoutMs;
      let byProfile = entries.get(integration);
      if (byProfile === undefined) entries.set(integration, (byProfile = new Map()));
      const current = byProfile.get(profile);
      if (current?.connectionKey === connectionKey) return lend(current);
      if (current && current.generation > generation) return lend(current);
      // eslint-disable-next-line prefer-const -- assigned below, after the pool it holds; the pool's clients count themselves on it
      let entry: PoolEntry;
      const pool = new pg.Pool({
        ...poolConnection(integration, connection, options.rdsIamTokens, options.logger),
        max: options.max,
        connectionTimeoutMillis: options.connectTimeoutMs,
        idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
        application_name: 'credflow',
        Client: guardedClient(options.maxMessageBytes, (server) => {
          entry.server = server;
          const slot = limits.open(integration, server);
          if (typeof slot === 'string') return checkout.limitError(entry, slot);
          entry.open += 1;
          return {
            release() {
              entry.open -= 1;
              slot.release();
              forget(entry);
            },
          };
        }),
        ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
      });
      // An idle client losing its server (restart, terminated backend) must not crash the agent.
      pool.on('error', (error) => {
        options.logger.warn(
          { event: 'pool.idle_error', integration, profile, code: (error as { code?: string }).code },
          'idle database connection failed',
        );
      });
      entry = {
        integration,
        profile,
        connectionKey,
        generation,
        pool,
        inUse: 0,
        retired: false,
        poolEnded: false,
        open: 0,
        server: undefined,
        waitingForRoom: 0,
      };
      byProfile.set(profile, entry);
      if (current) retire(current, 'credentials replaced');
      options.logger.info({ event: 'pool.create', integration, profile }, 'created connection pool');
      return lend(entry);
    },
    drop(integration) {
      const byProfile = entries.get(integration);
      if (byProfile === undefined) return 0;
      entries.delete(integration);
      for (const entry of byProfile.values()) retire(entry, 'invalidated');
      return byProfile.size;
    },
    stats() {
      return [...all(), ...retiring].map((e) => ({
        integration: e.integration,
        profile: e.profile,
        draining: e.retired,
        total: e.pool.totalCount,
        idle: e.pool.idleCount,
        waiting: e.pool.waitingCount + e.waitingForRoom,
        open: e.open,
      }));
    },
    connections(integration, profile) {
      const server = entries.get(integration)?.get(profile)?.server;
      return {
        integration: { open: limits.openBy(integration), max: options.max },
        server: server === undefined ? undefined : { open: limits.openTo(server), max: serverMax },
      };
    },
    hasPool,
    async close() {
      const ending = [...all(), ...retiring];
      entries.clear();
      for (const entry of ending) end(entry);
      await Promise.all(ending.map((e) => e.ended ?? Promise.resolve()));
    },
  };
}

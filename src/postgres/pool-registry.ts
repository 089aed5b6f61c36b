import pg from 'pg';
import type { Logger } from 'pino';
import type { ResolvedConnection } from '../config/index.js';
import { CredflowError } from '../errors.js';
import type { PoolStats } from '../metrics/index.js';
import { ConnectionLimits, type ConnectionLimitKind } from './connection-limits.js';
import { guardedClient } from './guarded-client.js';

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
}

interface Entry {
  integration: string;
  profile: string;
  /** Hash of the resolved connection; the registry never keys anything by a password. */
  connectionKey: string;
  generation: number;
  pool: pg.Pool;
  /** Queries using the pool now (running or waiting for a connection). */
  inUse: number;
  retired: boolean;
  ended?: Promise<void>;
  /** Set once pg's end() resolved; its last sockets may still be closing. */
  poolEnded: boolean;
  /** Connections of this pool counted against the limits (connecting or open). */
  open: number;
  /** The server its connections go to (`host:port`), once one was asked for. */
  server: string | undefined;
  /** Queries waiting for room under a connection limit (pg-pool's queue holds those waiting for a full pool). */
  waitingForRoom: number;
}

/** A pool lent for one query; release it when the query is done. */
export interface PoolLease {
  pool: pg.Pool;
  /**
   * A client of the pool. Under a connection limit (the integration's or the server's), waits up to
   * the connect timeout for a connection to close, then fails with CONNECTION_LIMIT.
   */
  connect(): Promise<pg.PoolClient>;
  release(): void;
}

/** An integration's connections, for its status. */
export interface ConnectionFigures {
  /** Open connections of all the integration's pools (every profile, draining ones included), and their limit. */
  integration: { open: number; max: number };
  /** Open connections of all pools to the server of the integration's current pool, and their limit. */
  server: { open: number; max: number } | undefined;
}

export interface PoolRegistry {
  /**
   * The pool for these credentials; a pool built on older credentials of the same integration and
   * profile is drained. A request still holding credentials older than the current pool's (a lower
   * `generation`) gets the current pool rather than replacing it.
   */
  lease(
    integration: string,
    profile: string,
    connectionKey: string,
    connection: ResolvedConnection,
    generation?: number,
    statementTimeoutMs?: number,
  ): PoolLease;
  /** Drains every pool of an integration (all profiles); running queries finish first. */
  drop(integration: string): number;
  /** Every open pool: the current ones, and the draining ones (`draining: true`) until they end. */
  stats(): PoolStats[];
  /** Connections of an integration and of the server its pool for `profile` connects to. */
  connections(integration: string, profile: string): ConnectionFigures;
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
  const entries = new Map<string, Map<string, Entry>>();
  const retiring = new Set<Entry>();
  const all = (): Entry[] => [...entries.values()].flatMap((byProfile) => [...byProfile.values()]);
  const serverMax = options.serverMax ?? Number.MAX_SAFE_INTEGER;
  const limits = new ConnectionLimits({ perIntegration: options.max, perServer: serverMax });

  const limitError = (entry: Entry, kind: ConnectionLimitKind): CredflowError => {
    const draining = [...retiring]
      .filter((e) => e.integration === entry.integration)
      .reduce((sum, e) => sum + e.open, 0);
    const retryAfterSeconds = 1;
    const wait = `no connection freed within ${options.connectTimeoutMs} ms; retry later`;
    if (kind === 'integration') {
      return new CredflowError(
        'CONNECTION_LIMIT',
        `integration "${entry.integration}": all ${options.max} connections the integration may hold are in use (CREDFLOW_POOL_MAX; ${draining} of them in pools draining after an invalidate, reload or rotation); ${wait}`,
        {
          details: {
            integration: entry.integration,
            limit: 'integration',
            max: options.max,
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
  /** pg-pool's own error when a query waited connectTimeoutMs for a full pool (pg-pool 3.x). */
  const isPoolQueueTimeout = (error: unknown): boolean =>
    error instanceof Error && error.message === 'timeout exceeded when trying to connect';
  const isLimit = (error: unknown): error is CredflowError =>
    error instanceof CredflowError && error.code === 'CONNECTION_LIMIT';

  const waitForRoom = async (entry: Entry, ms: number): Promise<boolean> => {
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
   * not keep a query out: pools hold idle connections for their idle timeout. True when one was.
   */
  const reclaimIdle = (entry: Entry, kind: ConnectionLimitKind): boolean => {
    let victim: Entry | undefined;
    for (const other of [...retiring, ...all()]) {
      if (other === entry || other.pool.idleCount === 0) continue;
      if (
        kind === 'server'
          ? other.server === undefined || other.server !== entry.server
          : other.integration !== entry.integration
      )
        continue;
      if (victim === undefined || other.pool.idleCount > victim.pool.idleCount) victim = other;
    }
    if (victim === undefined) return false;
    // pg-pool lends an idle client before it opens one; should a query of that pool take it first,
    // this checkout waits or opens one within the limits like any other, and closes it all the same.
    victim.pool.connect().then(
      (client) => client.release(true),
      () => undefined,
    );
    return true;
  };
  const connect = async (entry: Entry): Promise<pg.PoolClient> => {
    const deadline = Date.now() + options.connectTimeoutMs;
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

  // A retired pool stays in `retiring` (seen in stats) until it has ended and its last socket closed.
  const forget = (entry: Entry): void => {
    if (entry.poolEnded && entry.open === 0) retiring.delete(entry);
  };
  const end = (entry: Entry): void => {
    entry.ended ??= entry.pool
      .end()
      .catch(() => undefined)
      .then(() => {
        entry.poolEnded = true;
        forget(entry);
      });
  };
  const retire = (entry: Entry, why: string): void => {
    options.logger.info(
      { event: 'pool.retire', integration: entry.integration, profile: entry.profile, reason: why },
      'draining pool',
    );
    entry.retired = true;
    // A draining pool serves only the queries that already hold it: each connection they hand back
    // closes at once (unless one of them is waiting for it), so it stops counting against the limits.
    entry.pool.options.idleTimeoutMillis = 1;
    retiring.add(entry);
    if (entry.inUse === 0) return end(entry);
    // Its idle connections close now rather than at their idle timeout: checked out and discarded
    // (pg-pool lends an idle client before it makes one; should a query of the pool take it first,
    // this checkout waits or opens one like any other, within the limits, and discards it).
    for (let i = entry.pool.idleCount; i > 0; i -= 1) {
      entry.pool.connect().then(
        (client) => client.release(true),
        () => undefined,
      );
    }
  };
  const lend = (entry: Entry): PoolLease => {
    entry.inUse += 1;
    let released = false;
    return {
      pool: entry.pool,
      connect: () => connect(entry),
      release() {
        if (released) return;
        released = true;
        entry.inUse -= 1;
        if (entry.retired && entry.inUse === 0) end(entry);
      },
    };
  };

  return {
    lease(
      integration,
      profile,
      connectionKey,
      connection,
      generation = 0,
      statementTimeoutMs = options.statementTimeoutMs,
    ) {
      let byProfile = entries.get(integration);
      if (byProfile === undefined) entries.set(integration, (byProfile = new Map()));
      const current = byProfile.get(profile);
      if (current?.connectionKey === connectionKey) return lend(current);
      if (current && current.generation > generation) return lend(current);
      // eslint-disable-next-line prefer-const -- assigned below, after the pool it holds; the pool's clients count themselves on it
      let entry: Entry;
      const pool = new pg.Pool({
        ...connection,
        max: options.max,
        connectionTimeoutMillis: options.connectTimeoutMs,
        idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
        application_name: 'credflow',
        Client: guardedClient(options.maxMessageBytes, (server) => {
          entry.server = server;
          const slot = limits.open(integration, server);
          if (typeof slot === 'string') return limitError(entry, slot);
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
    async close() {
      const ending = [...all(), ...retiring];
      entries.clear();
      for (const entry of ending) end(entry);
      await Promise.all(ending.map((e) => e.ended ?? Promise.resolve()));
    },
  };
}

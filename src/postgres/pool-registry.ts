import pg from 'pg';
import type { Logger } from 'pino';
import type { ResolvedConnection } from '../credentials/index.js';
import type { PoolStats } from '../metrics/index.js';
import { guardedClient } from './guarded-client.js';

export interface PoolRegistryOptions {
  logger: Logger;
  max: number;
  connectTimeoutMs: number;
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
}

/** A pool lent for one query; release it when the query is done. */
export interface PoolLease {
  pool: pg.Pool;
  release(): void;
}

export interface PoolRegistry {
  /**
   * The pool for these credentials; a pool built on older credentials of the same integration and
   * profile is drained. A request still holding credentials older than the current pool's (a lower
   * `generation`) gets the current pool rather than replacing it.
   */
  lease(integration: string, profile: string, connectionKey: string, connection: ResolvedConnection, generation?: number, statementTimeoutMs?: number): PoolLease;
  /** Drains every pool of an integration (all profiles); running queries finish first. */
  drop(integration: string): number;
  stats(): PoolStats[];
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

  const end = (entry: Entry): void => {
    retiring.delete(entry);
    entry.ended ??= entry.pool.end().catch(() => undefined);
  };
  const retire = (entry: Entry, why: string): void => {
    options.logger.info({ event: 'pool.retire', integration: entry.integration, profile: entry.profile, reason: why }, 'draining pool');
    entry.retired = true;
    if (entry.inUse === 0) end(entry);
    else retiring.add(entry);
  };
  const lend = (entry: Entry): PoolLease => {
    entry.inUse += 1;
    let released = false;
    return {
      pool: entry.pool,
      release() {
        if (released) return;
        released = true;
        entry.inUse -= 1;
        if (entry.retired && entry.inUse === 0) end(entry);
      },
    };
  };

  return {
    lease(integration, profile, connectionKey, connection, generation = 0, statementTimeoutMs = options.statementTimeoutMs) {
      let byProfile = entries.get(integration);
      if (byProfile === undefined) entries.set(integration, (byProfile = new Map()));
      const current = byProfile.get(profile);
      if (current?.connectionKey === connectionKey) return lend(current);
      if (current && current.generation > generation) return lend(current);
      const pool = new pg.Pool({
        ...connection,
        max: options.max,
        connectionTimeoutMillis: options.connectTimeoutMs,
        idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
        application_name: 'credflow',
        Client: guardedClient(options.maxMessageBytes),
        ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
      });
      // An idle client losing its server (restart, terminated backend) must not crash the agent.
      pool.on('error', (error) => {
        options.logger.warn({ event: 'pool.idle_error', integration, profile, code: (error as { code?: string }).code }, 'idle database connection failed');
      });
      const entry: Entry = { integration, profile, connectionKey, generation, pool, inUse: 0, retired: false };
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
      return all().map((e) => ({
        integration: e.integration,
        profile: e.profile,
        total: e.pool.totalCount,
        idle: e.pool.idleCount,
        waiting: e.pool.waitingCount,
      }));
    },
    async close() {
      const ending = [...all(), ...retiring];
      entries.clear();
      for (const entry of ending) end(entry);
      await Promise.all(ending.map((e) => e.ended));
    },
  };
}

import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { ResolvedConnection } from '../credentials/index.js';

export interface PoolRegistryOptions {
  logger: Logger;
  max: number;
  connectTimeoutMs: number;
  idleTimeoutMs?: number;
}

interface Entry {
  key: string;
  pool: pg.Pool;
}

export interface PoolRegistry {
  /** The pool for these credentials; a pool built on older credentials of the integration is drained. */
  poolFor(integration: string, connection: ResolvedConnection): pg.Pool;
  size(integration: string): number;
  close(): Promise<void>;
}

/**
 * One pg.Pool per integration and set of resolved credentials. The key is a hash of the connection,
 * so the registry never holds a password as a map key. When credentials change, the old pool ends
 * gracefully: checked-out clients finish their queries, then disconnect.
 */
export function createPoolRegistry(options: PoolRegistryOptions): PoolRegistry {
  const entries = new Map<string, Entry>();

  const retire = (integration: string, entry: Entry): void => {
    options.logger.info({ event: 'pool.retire', integration }, 'draining pool built on replaced credentials');
    entry.pool.end().catch(() => undefined);
  };

  return {
    poolFor(integration, connection) {
      const key = createHash('sha256').update(JSON.stringify(connection)).digest('hex');
      const current = entries.get(integration);
      if (current?.key === key) return current.pool;
      const pool = new pg.Pool({
        ...connection,
        max: options.max,
        connectionTimeoutMillis: options.connectTimeoutMs,
        idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
        application_name: 'credflow',
      });
      // An idle client losing its server (restart, terminated backend) must not crash the agent.
      pool.on('error', (error) => {
        options.logger.warn({ event: 'pool.idle_error', integration, code: (error as { code?: string }).code }, 'idle database connection failed');
      });
      entries.set(integration, { key, pool });
      if (current) retire(integration, current);
      options.logger.info({ event: 'pool.create', integration }, 'created connection pool');
      return pool;
    },
    size(integration) {
      return entries.get(integration)?.pool.totalCount ?? 0;
    },
    async close() {
      const all = [...entries.values()];
      entries.clear();
      await Promise.all(all.map((e) => e.pool.end().catch(() => undefined)));
    },
  };
}

import type pg from 'pg';

/** A pool of the registry and what the registry counts about it. */
export interface PoolEntry {
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

/** Checks out one idle client of the pool and closes it (pg-pool lends an idle client before it opens one). */
export function closeOneIdle(entry: PoolEntry): void {
  entry.pool.connect().then(
    (client) => client.release(true),
    () => undefined,
  );
}

/**
 * Every use credflow makes of pg's and pg-pool's undocumented behaviour, and nowhere else. pg and
 * pg-pool are pinned to exact versions in package.json; test/unit/pg-internals.contract.test.ts
 * checks each point below against the real libraries (and a real PostgreSQL), so an upgrade that
 * changes one fails there first. What is relied on, and why:
 *
 * - pg.Query's `handleDataRow(message)` is called with each DataRow before pg parses it, and the
 *   base method parses and keeps the row: a subclass drops rows past the caps without parsing them.
 * - The query config's `queryMode: 'extended'` (documented by node-postgres, missing from
 *   @types/pg) sends parse/bind/execute even without parameters: the server then runs one statement.
 * - `Client#cancel(client, query)` sends a CancelRequest for `query` on a fresh connection, as
 *   psql's Ctrl-C does.
 * - `client.connection.stream` is the plain socket (kept under TLS too), and pg-protocol's parser is
 *   its 'data' listener, attached synchronously in `connect()` or, with TLS, on the connection's
 *   'sslconnect' event: the message guard takes it over there.
 * - pg-pool fails a checkout that waited `connectionTimeoutMillis` for a full pool with the message
 *   below, the only way to tell that wait from a connect that timed out.
 * - pg-pool reads `options.idleTimeoutMillis` each time a client is released: setting it to 1 on a
 *   draining pool closes each connection handed back (unless a checkout waits for it).
 */
import type { Duplex } from 'node:stream';
import pg from 'pg';

/** A DataRow's fields as pg-protocol hands them to the query (text, or a Buffer in binary mode). */
export type RawField = string | Buffer | null;

export type QueryCallback = (error: Error | null, result: pg.QueryResult | pg.QueryResult[]) => void;

const baseHandleDataRow = (pg.Query.prototype as unknown as { handleDataRow(message: { fields: RawField[] }): void })
  .handleDataRow;

/** A pg.Query that sees each row's raw fields first, and may drop the row before pg parses it. */
export abstract class RowGateQuery extends pg.Query {
  constructor(text: string, values: readonly unknown[], extended: boolean, callback: QueryCallback) {
    super({ text, values, ...(extended ? { queryMode: 'extended' } : {}) } as never, callback as never);
  }

  /** False drops the row. */
  protected abstract admitRow(fields: readonly RawField[]): boolean;

  handleDataRow(message: { fields: RawField[] }): void {
    if (this.admitRow(message.fields)) baseHandleDataRow.call(this, message);
  }
}

/** Asks the server to cancel `query`, running on `client`, over a fresh connection of the pool's settings. */
export function cancelQuery(pool: pg.Pool, client: pg.PoolClient, query: pg.Query): void {
  const canceller = new pg.Client(pool.options as pg.ClientConfig) as pg.Client & {
    cancel(client: pg.PoolClient, query: pg.Query): void;
  };
  canceller.connection.on('error', () => undefined);
  canceller.cancel(client, query);
}

/** The client's socket (the plain one, which closes last, also under TLS). */
export function socketOf(client: pg.Client): Duplex | undefined {
  return (client as pg.Client & { connection?: { stream?: Duplex } }).connection?.stream;
}

/**
 * Calls `ready` once pg's protocol parser listens to the client's socket: at once when called right
 * after `connect()` began on a plain connection, on 'sslconnect' under TLS.
 */
export function whenParserAttached(client: pg.Client, ready: (socket: Duplex) => void): void {
  const connection = client.connection as unknown as {
    stream: Duplex;
    ssl?: unknown;
    once(event: 'sslconnect', listener: () => void): void;
  };
  if (connection.ssl) connection.once('sslconnect', () => ready(connection.stream));
  else ready(connection.stream);
}

/** pg-pool's error when a checkout waited its connectionTimeoutMillis for a full pool. */
export const POOL_QUEUE_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';

export function isPoolQueueTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === POOL_QUEUE_TIMEOUT_MESSAGE;
}

/** From now on, each connection handed back to the pool closes (unless a checkout is waiting for one). */
export function closeConnectionsOnRelease(pool: pg.Pool): void {
  pool.options.idleTimeoutMillis = 1;
}

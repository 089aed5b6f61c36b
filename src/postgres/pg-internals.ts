/**
 * Every use credflow makes of pg's and pg-pool's undocumented behaviour, and nowhere else. pg and
 * pg-pool are pinned to exact versions in package.json; test/unit/pg-internals.contract.test.ts
 * checks each point below against the real libraries (and a real PostgreSQL), so an upgrade that
 * changes one fails there first. What is relied on, and why:
 *
 * - pg.Query's `handleDataRow(message)` is called with each DataRow before pg parses it, and the
 *   base method parses and keeps the row: a subclass drops rows past the caps without parsing them.
 * - pg.Query's `handleRowDescription(message)` does `_checkForMultirow()`, `_result.addFields(fields)`
 *   and sets `_accumulateRows`; Result.addFields sets `fields`, `_parsers` (a type parser per field,
 *   from `_types` or pg.types) and `_prebuiltEmptyResultObject` (the template every row is copied
 *   from). RowGateQuery does the same without addFields' spread of a null-prototype object into a
 *   new one, which V8 runs slowly: side by side in one process, a cached query measured faster with it.
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

interface FieldDescription {
  name: string;
  dataTypeID: number;
  format?: string;
}

type TypeParser = (text: string) => unknown;

/** The parts of pg's Result that addFields sets (pg/lib/result.js). */
interface ResultInternals {
  fields: FieldDescription[];
  _parsers: TypeParser[] | undefined;
  _types: { getTypeParser(oid: number, format: string): TypeParser } | undefined;
  _prebuiltEmptyResultObject: Record<string, null> | null;
}

/** What pg's Result.addFields does; the template row gets the same own properties in the same order. */
function addFields(result: ResultInternals, fields: FieldDescription[]): void {
  result.fields = fields;
  const parsers = new Array<TypeParser>(fields.length);
  if (fields.length) result._parsers = parsers;
  const types = result._types ?? (pg.types as unknown as NonNullable<ResultInternals['_types']>);
  const row: Record<string, null> = {};
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as FieldDescription;
    // An ordinary store makes the same own property, except for __proto__, which it would not.
    if (field.name === '__proto__')
      Object.defineProperty(row, field.name, { value: null, enumerable: true, writable: true, configurable: true });
    else row[field.name] = null;
    parsers[i] = types.getTypeParser(field.dataTypeID, field.format || 'text');
  }
  result._prebuiltEmptyResultObject = row;
}

/** A pg.Query that sees each row's raw fields first, and may drop the row before pg parses it. */
export abstract class RowGateQuery extends pg.Query {
  constructor(text: string, values: readonly unknown[], extended: boolean, callback: QueryCallback) {
    super({ text, values, ...(extended ? { queryMode: 'extended' } : {}) } as never, callback as never);
  }

  /** False drops the row. */
  protected abstract admitRow(fields: readonly RawField[]): boolean;

  handleRowDescription(message: { fields: FieldDescription[] }): void {
    const self = this as unknown as {
      _checkForMultirow(): void;
      _result: ResultInternals;
      _accumulateRows: unknown;
      callback: unknown;
    };
    self._checkForMultirow();
    addFields(self._result, message.fields);
    self._accumulateRows = self.callback || !this.listeners('row').length;
  }

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

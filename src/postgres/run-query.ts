import type pg from 'pg';
import { CredflowError } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';
import { CappedQuery, type Truncation } from './capped-query.js';
import type { GuardTrip } from './message-guard.js';
import { mapPgError } from './map-pg-error.js';
import { cancelQuery } from './pg-internals.js';
import type { PoolLease } from './pool-lease.js';
import { detailsOf, tripError } from './query-errors.js';
import { isSingleStatement } from './single-statement.js';
import type { StatementWatchdog } from './statement-watchdog.js';

export interface QueryResult {
  fields: { name: string; dataTypeID: number }[];
  rows: Record<string, unknown>[];
  /** What the server reported (rows affected or returned), even when `rows` was truncated. */
  rowCount: number | null;
  /** Set when rows were dropped to keep within maxRows or maxResultBytes. */
  truncated?: Truncation;
}

/** An integration's query safety settings (each with an agent-wide default). */
export interface QueryLimits {
  /** Every query runs in a READ ONLY transaction that is rolled back afterwards. */
  readOnly: boolean;
  /** PostgreSQL's statement_timeout (0: none). */
  statementTimeoutMs: number;
  maxRows: number;
  maxResultBytes: number;
  /** Bytes one backend message other than a DataRow may have (default DEFAULT_MAX_MESSAGE_BYTES). */
  maxMessageBytes?: number;
}

export interface RunQueryOptions {
  /** A registry's lease (whose connect() waits under the connection limits), or leasePool(pool). */
  lease: PoolLease;
  integration: string;
  sql: string;
  params: readonly unknown[];
  masker: SecretMasker;
  limits: QueryLimits;
  /** Who asks (a token id): a session another caller used is reset before it serves this one. */
  caller?: string | undefined;
}

/** The default bound on one backend message that is not a DataRow (CREDFLOW_QUERY_MAX_MESSAGE_BYTES). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * A DataRow longer than this never reaches pg: the row alone is over maxResultBytes (a row's framing
 * is at most 6 + 4 x 1664 columns bytes), so it would be dropped anyway. At most 256 MiB, well under
 * V8's largest string, whatever maxResultBytes is.
 */
const rowLimitOf = (limits: QueryLimits): number => Math.min(limits.maxResultBytes + 64 * 1024, 256 * 1024 * 1024);

/** Past the statement timeout by this much, the agent cancels the statement itself. */
const watchdogGraceMs = 2_000;

/**
 * DISCARD ALL's parts, which unlike DISCARD ALL may follow a ROLLBACK in one message: no SET,
 * role, prepared statement, cursor, LISTEN, advisory lock or temporary table outlives it.
 */
const RESET_SESSION =
  'CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES';

/**
 * Runs one parameterised query on a pool. Connecting and querying are separate phases so that a
 * failure says whether the database refused the connection or the statement.
 *
 * Exactly one statement runs: text that is not certainly one statement, every query with
 * parameters and every query on a readOnly integration go through the extended protocol, which the
 * server holds to one statement. With `readOnly`, the statement runs inside `BEGIN READ ONLY` with a
 * `SET LOCAL statement_timeout`, and the transaction is rolled back, which also undoes any SET the
 * statement made. A transaction a statement leaves open (`BEGIN`) is rolled back too, so every
 * query is its own unit of work and no session goes back to the pool mid-transaction. Without
 * readOnly, a caller could `SET statement_timeout = 0` on a pooled session; a
 * watchdog therefore cancels any statement that outlives the timeout by 2 to 3 s and discards
 * its connection. Every backend message is judged before pg decodes it (see MessageGuard): a row
 * alone over maxResultBytes is dropped and the result says truncated; any other message over
 * `maxMessageBytes`, or a COPY to or from the client, fails the query and discards its connection.
 */
export async function runQuery(options: RunQueryOptions): Promise<QueryResult> {
  const { lease, integration, sql, params, masker, limits, caller = 'local' } = options;
  const { pool, sessions } = lease;
  let client: pg.PoolClient;
  try {
    client = await lease.connect();
  } catch (error) {
    // CONNECTION_LIMIT: the agent's own refusal, before any socket opened.
    if (error instanceof CredflowError) throw error;
    const trip = (error as { guardTrip?: GuardTrip } | undefined)?.guardTrip;
    throw trip ? tripError(integration, trip) : mapPgError(error, integration, masker, 'connect', detailsOf(pool));
  }
  const messageLimit = limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const session = sessions.sessionOf(client, messageLimit);
  session.broken = undefined;
  session.trip = undefined;
  const fail = (error: unknown): never => {
    if (session.trip) error = tripError(integration, session.trip);
    if (error instanceof CredflowError) {
      session.broken ??= error;
      throw error;
    }
    const e = error as { code?: string; severity?: string };
    // A socket error, or a FATAL (the server ended the session), leaves the client unusable; a SQL error does not.
    if (!e.code || !/^[0-9A-Z]{5}$/.test(e.code) || e.severity === 'FATAL' || e.severity === 'PANIC')
      session.broken ??= error as Error;
    throw mapPgError(error, integration, masker, 'query', detailsOf(pool), limits.maxResultBytes);
  };
  try {
    // Non-readOnly sessions keep what their statements set (a caller may rely on its own SETs);
    // before the session serves another caller, all of it is reset.
    if (!limits.readOnly && session.caller !== undefined && session.caller !== caller)
      await client.query(RESET_SESSION).catch(fail);
    session.caller = caller;
    if (limits.readOnly) {
      const timeout =
        limits.statementTimeoutMs > 0 ? `; SET LOCAL statement_timeout = ${Math.floor(limits.statementTimeoutMs)}` : '';
      await client.query(`BEGIN READ ONLY${timeout}`).catch(fail);
    }
    const arm = (query: CappedQuery): void =>
      session.guard?.arm({ rowLimit: rowLimitOf(limits), messageLimit, onRowDropped: () => query.rowDropped() });
    try {
      return await execute({
        client,
        pool,
        sql,
        params,
        limits,
        arm,
        watchdog: sessions.watchdog,
        onCancel: () => {
          session.broken ??= new Error('statement cancelled by the watchdog');
        },
      }).catch(fail);
    } finally {
      session.guard?.disarm();
      // A session goes back to the pool outside any transaction: the readOnly one is always rolled
      // back and reset (so nothing a read-only query did outlives it), and one the statement opened
      // (BEGIN) or left failed is rolled back, so no caller inherits it.
      const status = client.getTransactionStatus();
      if (!session.broken && (limits.readOnly || (status !== null && status !== 'I'))) {
        await client.query(limits.readOnly ? `ROLLBACK; ${RESET_SESSION}` : 'ROLLBACK').catch((error: unknown) => {
          session.broken ??= error as Error;
        });
      }
    }
  } finally {
    client.release(session.broken);
  }
}

interface ExecuteOptions {
  client: pg.PoolClient;
  pool: pg.Pool;
  sql: string;
  params: readonly unknown[];
  limits: QueryLimits;
  arm: (query: CappedQuery) => void;
  watchdog: StatementWatchdog;
  onCancel: () => void;
}

function execute({ client, pool, sql, params, limits, arm, watchdog, onCancel }: ExecuteOptions): Promise<QueryResult> {
  return new Promise((resolve, reject) => {
    let unwatch: (() => void) | undefined;
    // The simple protocol runs every statement in the text; the extended one (parse/bind/execute)
    // exactly one. The simple one costs one message instead of five, so it serves text that is
    // certainly one statement on an integration that is not readOnly; all else goes extended.
    const extended = limits.readOnly || params.length > 0 || !isSingleStatement(sql);
    const query = new CappedQuery({
      text: sql,
      values: params,
      caps: limits,
      extended,
      callback: (error, result) => {
        unwatch?.();
        if (error) return reject(error);
        // Never expected: the lexer vouched for one statement, yet the server ran several.
        if (Array.isArray(result)) {
          return reject(
            new CredflowError('DB_QUERY_FAILED', 'the query ran as several statements; send one statement per query', {
              details: { sqlstate: '42601' },
            }),
          );
        }
        const out: QueryResult = {
          fields: result.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
          rows: result.rows as Record<string, unknown>[],
          rowCount: result.rowCount,
        };
        if (query.truncated) out.truncated = query.truncated;
        resolve(out);
      },
    });
    arm(query);
    if (limits.statementTimeoutMs > 0) {
      unwatch = watchdog.watch(Date.now() + limits.statementTimeoutMs + watchdogGraceMs, () => {
        onCancel();
        // The statement then fails with 57014.
        cancelQuery(pool, client, query);
      });
    }
    client.query(query);
  });
}

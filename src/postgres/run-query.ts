import type pg from 'pg';
import type { SecretMasker } from '../masking/index.js';
import { mapPgError } from './map-pg-error.js';

export interface QueryResult {
  fields: { name: string; dataTypeID: number }[];
  rows: Record<string, unknown>[];
  rowCount: number | null;
}

/**
 * Runs one parameterised query on a pool. Connecting and querying are separate phases so that a
 * failure says whether the database refused the connection or the statement.
 */
export async function runQuery(
  pool: pg.Pool,
  integration: string,
  sql: string,
  params: readonly unknown[],
  masker: SecretMasker,
): Promise<QueryResult> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapPgError(error, integration, masker, 'connect');
  }
  let broken: Error | undefined;
  // pg-pool detaches its own listener while a client is checked out; a server that goes away
  // mid-query then emits 'error' on the client, which must not become an uncaught exception.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    // Always the extended protocol (parse/bind/execute), even without parameters: it runs exactly
    // one statement, so text cannot smuggle a second one in.
    const result = await client.query({ text: sql, values: params as unknown[] });
    return {
      fields: result.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
      rows: result.rows as Record<string, unknown>[],
      rowCount: result.rowCount,
    };
  } catch (error) {
    const e = error as { code?: string; severity?: string };
    // A socket error, or a FATAL (the server ended the session), leaves the client unusable; a SQL error does not.
    if (!e.code || !/^[0-9A-Z]{5}$/.test(e.code) || e.severity === 'FATAL' || e.severity === 'PANIC') broken ??= error as Error;
    throw mapPgError(error, integration, masker, 'query');
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import {
  cancelQuery,
  closeConnectionsOnRelease,
  isPoolQueueTimeout,
  RowGateQuery,
  socketOf,
  whenParserAttached,
  type QueryCallback,
  type RawField,
} from '../../src/postgres/pg-internals.js';

/**
 * What src/postgres/pg-internals.ts relies on in pg and pg-pool, checked against the installed
 * libraries and a real PostgreSQL: an upgrade that changes any of it fails here.
 */
const require = createRequire(import.meta.url);
/** The version of the package `require` finds (pg-pool's exports hide its package.json). */
function installed(name: string): string {
  for (let dir = path.dirname(require.resolve(name)); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
      if (pkg.name === name) return pkg.version;
    } catch {
      // No package.json here: look one folder up.
    }
    if (dir === path.dirname(dir)) throw new Error(`no package.json of ${name}`);
  }
}
const pinned = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    dependencies: Record<string, string>;
  }
).dependencies;

/** Keeps the rows whose first field is odd, recording every raw row it was shown. */
class OddRows extends RowGateQuery {
  seen: (readonly RawField[])[] = [];
  protected admitRow(fields: readonly RawField[]): boolean {
    this.seen.push([...fields]);
    return Number(fields[0]) % 2 === 1;
  }
}

function start(client: pg.ClientBase, text: string, extended: boolean) {
  let query: OddRows | undefined;
  const done = new Promise<{ query: OddRows; result: unknown }>((resolve, reject) => {
    const callback: QueryCallback = (error, result) => (error ? reject(error) : resolve({ query: query!, result }));
    query = new OddRows(text, [], extended, callback);
    client.query(query);
  });
  return { query: query!, done };
}

/** Runs the query on a client of the pool (pg-pool's own query() would replace the query's callback). */
async function run(pool: pg.Pool, text: string, extended: boolean) {
  const client = await pool.connect();
  try {
    return await start(client, text, extended).done;
  } finally {
    client.release();
  }
}

describe('pg internals (the contract of src/postgres/pg-internals.ts)', () => {
  let pool: pg.Pool;
  const server = () => ({ ...inject('postgres'), database: 'postgres' });

  beforeAll(() => {
    pool = new pg.Pool({ ...server(), max: 4 });
  });
  afterAll(async () => {
    await pool.end();
  });

  it('runs on the exact pg and pg-pool versions package.json pins', () => {
    expect(pinned.pg).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pinned['pg-pool']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed('pg')).toBe(pinned.pg);
    expect(installed('pg-pool')).toBe(pinned['pg-pool']);
    // pg's own pg-pool is the one pinned (no second copy nested under pg).
    expect(require.resolve('pg-pool', { paths: [require.resolve('pg')] })).toBe(require.resolve('pg-pool'));
  });

  it('shows each DataRow raw before pg parses it, and keeps only the rows admitted, parsed as pg does', async () => {
    const sql = 'SELECT g, g::text || $$!$$ AS t, NULL::int AS n FROM generate_series(1, 5) g';
    const { query, result } = await run(pool, sql, false);
    expect(query.seen).toEqual([1, 2, 3, 4, 5].map((g) => [String(g), `${g}!`, null]));
    const theirs = await pool.query(sql);
    expect((result as pg.QueryResult).rows).toEqual(theirs.rows.filter((row: { g: number }) => row.g % 2 === 1));
    expect((result as pg.QueryResult).rowCount).toBe(5);
  });

  it("describes fields as pg's own Query and Result do (the members RowGateQuery sets in their place)", () => {
    const handler = (pg.Query.prototype as unknown as { handleRowDescription: () => void }).handleRowDescription;
    expect(handler.toString().replace(/\s+/g, ' ')).toContain(
      "this._checkForMultirow() this._result.addFields(msg.fields) this._accumulateRows = this.callback || !this.listeners('row').length",
    );
    const result = new (
      require('pg/lib/result.js') as new () => Record<string, unknown> & {
        addFields(fields: { name: string; dataTypeID: number; format?: string }[]): void;
      }
    )();
    expect(Object.keys(result)).toEqual(
      expect.arrayContaining(['fields', '_parsers', '_types', '_prebuiltEmptyResultObject']),
    );
    result.addFields([
      { name: 'a', dataTypeID: 23 },
      { name: 'b', dataTypeID: 25, format: 'text' },
    ]);
    expect(result.fields).toHaveLength(2);
    expect(result._parsers).toHaveLength(2);
    expect(result._prebuiltEmptyResultObject).toEqual({ a: null, b: null });
  });

  it('gives the rows of every statement of a simple query, a column named __proto__ included, as pg does', async () => {
    const sql = 'SELECT 1 AS a, 2 AS "__proto__"; SELECT g FROM generate_series(1, 3) g';
    const { result } = await run(pool, sql, false);
    const theirs = (await pool.query(sql)) as unknown as pg.QueryResult[];
    const ours = result as pg.QueryResult[];
    expect(ours.map((r) => r.rows)).toEqual([
      theirs[0]?.rows,
      theirs[1]?.rows.filter((row: { g: number }) => row.g % 2 === 1),
    ]);
    expect(Object.getOwnPropertyNames(ours[0]?.rows[0])).toEqual(Object.getOwnPropertyNames(theirs[0]?.rows[0]));
  });

  it('holds a query to one statement in extended mode, and runs every statement of a simple one', async () => {
    const simple = await run(pool, 'SELECT 1 AS a; SELECT 3 AS b', false);
    expect(Array.isArray(simple.result)).toBe(true);
    const error = await run(pool, 'SELECT 1 AS a; SELECT 3 AS b', true).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect(error?.code).toBe('42601');
  });

  it('cancels a running statement with a CancelRequest (the statement fails with 57014)', async () => {
    const client = await pool.connect();
    try {
      const { query, done } = start(client, 'SELECT pg_sleep(60)', false);
      const running = done.then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      );
      await vi.waitFor(async () => {
        const active = await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'",
        );
        expect(active.rows[0]?.n).toBe(1);
      });
      cancelQuery(pool, client, query);
      expect((await running)?.code).toBe('57014');
    } finally {
      client.release();
    }
  });

  it("attaches pg's protocol parser as the socket's only 'data' listener when connect() begins", async () => {
    const client = new pg.Client(server());
    const connecting = client.connect();
    let listeners = -1;
    whenParserAttached(client, (socket) => {
      listeners = socket.listeners('data').length;
      expect(socket).toBe(socketOf(client));
    });
    expect(listeners).toBe(1);
    await connecting;
    expect((await client.query('SELECT 6 * 7 AS answer')).rows).toEqual([{ answer: 42 }]);
    await client.end();
  });

  it("fails a checkout that waited for a full pool with pg-pool's own timeout message", async () => {
    const small = new pg.Pool({ ...server(), max: 1, connectionTimeoutMillis: 100 });
    const held = await small.connect();
    try {
      const error = await small.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isPoolQueueTimeout(error)).toBe(true);
    } finally {
      held.release();
      await small.end();
    }
  });

  it('closes each connection handed back once the idle timeout is set to 1 on a live pool', async () => {
    const live = new pg.Pool({ ...server(), max: 2, idleTimeoutMillis: 60_000 });
    try {
      (await live.connect()).release();
      expect(live.idleCount).toBe(1);
      closeConnectionsOnRelease(live);
      (await live.connect()).release();
      await vi.waitFor(() => expect(live.totalCount).toBe(0));
    } finally {
      await live.end();
    }
  });
});

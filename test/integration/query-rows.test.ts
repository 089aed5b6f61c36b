import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretMasker } from '../../src/masking/index.js';
import { leasePool, runQuery, type PoolLease, type QueryLimits } from '../../src/postgres/index.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const limits: QueryLimits = { readOnly: false, statementTimeoutMs: 10_000, maxRows: 1000, maxResultBytes: 1 << 20 };

/** credflow's capped query (see capped-query.ts) must give pg's own rows exactly. */
describe('rows from runQuery are the rows pg.Pool.query returns', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let lease: PoolLease;

  beforeAll(async () => {
    db = await createTestDatabase('rows');
    pool = new pg.Pool({
      host: db.host,
      port: db.port,
      user: db.username,
      password: db.password,
      database: db.dbname,
      max: 2,
    });
    lease = leasePool(pool);
  });
  afterAll(async () => {
    await pool?.end();
  });

  const statements: [string, unknown[]][] = [
    ['SELECT 1', []],
    ['SELECT * FROM widgets ORDER BY id', []],
    ['SELECT id, name FROM widgets WHERE price > $1 ORDER BY id', [3]],
    [`SELECT 1 AS "__proto__", 2 AS "constructor", 3 AS "toString", NULL::int AS "hasOwnProperty", 'x' AS "é 中"`, []],
    ['SELECT 1 AS a, 2 AS a, 3 AS b', []],
    [
      `SELECT '2026-01-02 03:04:05+00'::timestamptz AS t, '{"k":[1,2]}'::jsonb AS j, ARRAY[1,2]::int[] AS arr, true AS flag, 2.5::numeric AS n, 12345678901234::bigint AS big, NULL AS nothing`,
      [],
    ],
    ['SELECT id FROM widgets WHERE false', []],
  ];

  it.each(statements)('%s', async (sql, params) => {
    const ours = await runQuery({ lease, integration: 'rows', sql, params, masker: new SecretMasker(), limits });
    const theirs = await pool.query(sql, params);
    expect(ours.rows).toEqual(theirs.rows);
    expect(ours.rowCount).toBe(theirs.rowCount);
    expect(ours.fields).toEqual(theirs.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })));
    ours.rows.forEach((row, i) => {
      const theirRow = theirs.rows[i] as Record<string, unknown>;
      expect(Object.getPrototypeOf(row)).toBe(Object.getPrototypeOf(theirRow));
      expect(Object.getOwnPropertyNames(row)).toEqual(Object.getOwnPropertyNames(theirRow));
    });
  });
});

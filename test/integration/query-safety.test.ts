import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { freePort } from '../../src/embedded/free-port.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import pg from 'pg';

/**
 * Per-integration query limits (readOnly, statementTimeoutMs, maxRows, maxResultBytes) and the
 * scrubbing of database errors, through the real HTTP API against the embedded PostgreSQL.
 */

const rdsSecret = (db: TestDatabase, overrides: Record<string, unknown> = {}) => ({
  SecretString: JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password: db.password,
    dbname: db.dbname,
    ...overrides,
  }),
});

const integration = (name: string, workflow: string, limits: Record<string, unknown> = {}) => ({
  ...postgresIntegration(name, workflow),
  ...limits,
});

interface Answer {
  status: number;
  body: any;
  text: string;
  ms: number;
}

describe('per-integration query limits against real PostgreSQL', () => {
  let db: TestDatabase;
  let t: TestAgent;
  let closedPort: number;
  const wrongPassword = 'Wrong-Pw-7c1e&<>"\'{}-93ab';
  const missingDatabase = `qs_missing_${Date.now().toString(36)}`;

  /** One request with a deadline: a request the agent never answers is status 0, not a hung test. */
  async function ask(
    method: string,
    route: string,
    body?: unknown,
    timeoutMs = 10_000,
    token = t.token,
  ): Promise<Answer> {
    const started = performance.now();
    try {
      const res = await fetch(`${t.url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text, ms: performance.now() - started };
    } catch (error) {
      const text = `no answer within ${timeoutMs} ms (${String(error)})`;
      return { status: 0, body: { error: { message: text } }, text, ms: performance.now() - started };
    }
  }

  const query = (name: string, sql: string, params?: unknown[], timeoutMs?: number) =>
    ask('POST', `/api/v1/integrations/${name}/query`, params ? { sql, params } : { sql }, timeoutMs);

  /** The table as its owner sees it, outside the agent. */
  async function widgetsAsOwner(): Promise<{ rows: unknown[]; intruders: unknown }> {
    const client = new pg.Client({
      host: db.host,
      port: db.port,
      user: db.username,
      password: db.password,
      database: db.dbname,
    });
    await client.connect();
    try {
      const rows = (await client.query('SELECT id, name, price FROM widgets ORDER BY id')).rows;
      const intruders = (await client.query("SELECT to_regclass('public.intruders') AS t")).rows[0]?.t ?? null;
      return { rows, intruders };
    } finally {
      await client.end();
    }
  }
  const originalWidgets = [
    { id: 1, name: 'sprocket', price: '2.50' },
    { id: 2, name: 'gear', price: '4.00' },
    { id: 3, name: 'flange', price: '9.75' },
  ];

  /** Nothing of where the agent connects, nor the password, in an answer. */
  function expectNoConnectionDetails(text: string): void {
    for (const secret of [
      db.password,
      JSON.stringify(db.password).slice(1, -1),
      wrongPassword,
      JSON.stringify(wrongPassword).slice(1, -1),
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain(db.username);
    expect(text).not.toContain(db.dbname);
    expect(text).not.toContain(missingDatabase);
    expect(text).not.toContain(db.host);
    expect(text).not.toContain(`:${db.port}`);
    expect(text).not.toContain(String(db.port));
    expect(text).not.toContain(String(closedPort));
  }

  beforeAll(async () => {
    db = await createTestDatabase('qs');
    closedPort = await freePort();
    t = await startTestAgent(
      {
        workflows: {
          getSecrets: secretsWorkflow('getSecrets', 'postgresSecrets'),
          getWrong: secretsWorkflow('getWrong', 'wrongSecret'),
          getClosed: secretsWorkflow('getClosed', 'closedSecret'),
          getNoDb: secretsWorkflow('getNoDb', 'noDbSecret'),
        },
        integrations: {
          ro: integration('ro', 'getSecrets', { readOnly: true, statementTimeoutMs: 4000 }),
          'ro-multi': integration('ro-multi', 'getSecrets', { readOnly: true }),
          multi: integration('multi', 'getSecrets'),
          slow: integration('slow', 'getSecrets', { statementTimeoutMs: 300 }),
          defaults: integration('defaults', 'getSecrets'),
          watchdog: integration('watchdog', 'getSecrets', { statementTimeoutMs: 300 }),
          rows: integration('rows', 'getSecrets', { maxRows: 10 }),
          bytes: integration('bytes', 'getSecrets', { maxResultBytes: 5000 }),
          plain: integration('plain', 'getSecrets'),
          'wrong-password': integration('wrong-password', 'getWrong'),
          'closed-port': integration('closed-port', 'getClosed'),
          'missing-db': integration('missing-db', 'getNoDb'),
        },
      },
      {
        CREDFLOW_POOL_MAX: '1',
        CREDFLOW_STATEMENT_TIMEOUT_MS: '700',
        CREDFLOW_QUERY_MAX_ROWS: '50',
        CREDFLOW_CONNECT_TIMEOUT_MS: '3000',
        CREDFLOW_AUTH_RETRIES: '0',
      },
    );
    t.secrets.createSecret('postgresSecrets', rdsSecret(db));
    t.secrets.createSecret('wrongSecret', rdsSecret(db, { password: wrongPassword }));
    t.secrets.createSecret('closedSecret', rdsSecret(db, { port: closedPort }));
    t.secrets.createSecret('noDbSecret', rdsSecret(db, { dbname: missingDatabase }));
  });

  afterAll(async () => {
    // A pool whose connection was never given back would hold close() forever; do not wait on it.
    await Promise.race([t?.close(), new Promise((resolve) => setTimeout(resolve, 3_000).unref())]);
  });

  describe('readOnly', () => {
    it('refuses INSERT, UPDATE, DELETE and CREATE with SQLSTATE 25006 and leaves the table unchanged', async () => {
      for (const sql of [
        "INSERT INTO widgets VALUES (4, 'intruder', 1.00)",
        'UPDATE widgets SET price = 0',
        'DELETE FROM widgets',
        'CREATE TABLE intruders (id int)',
      ]) {
        const res = await query('ro', sql);
        expect(res.status, sql).toBe(400);
        expect(res.body.error.code, sql).toBe('DB_QUERY_FAILED');
        expect(res.body.error.details.sqlstate, sql).toBe('25006');
        expect(res.body.error.message, sql).toMatch(/read-only transaction/);
      }
      expect(await widgetsAsOwner()).toEqual({ rows: originalWidgets, intruders: null });
    });

    it('runs a SELECT through a readOnly integration', async () => {
      const res = await query('ro', 'SELECT id, name, price FROM widgets ORDER BY id');
      expect(res.status).toBe(200);
      expect(res.body.rows).toEqual(originalWidgets);
      expect(res.body.rowCount).toBe(3);
      expect(res.body.truncated).toBeUndefined();
    });

    it('does not let SET statement_timeout or set_config outlive the query on the same pooled connection', async () => {
      const pid = (await query('ro', 'SELECT pg_backend_pid() AS pid')).body.rows[0].pid as number;
      expect((await query('ro', 'SHOW statement_timeout')).body.rows).toEqual([{ statement_timeout: '4s' }]);

      const set = await query('ro', 'SET statement_timeout = 0');
      expect(set.status).toBe(200);
      const afterSet = await query('ro', 'SELECT current_setting($1) AS timeout, pg_backend_pid() AS pid', [
        'statement_timeout',
      ]);
      expect(afterSet.body.rows).toEqual([{ timeout: '4s', pid }]);

      const config = await query('ro', "SELECT set_config('statement_timeout', '0', false) AS v");
      expect(config.status).toBe(200);
      expect(config.body.rows).toEqual([{ v: '0' }]);
      const afterConfig = await query('ro', 'SELECT current_setting($1) AS timeout, pg_backend_pid() AS pid', [
        'statement_timeout',
      ]);
      expect(afterConfig.body.rows).toEqual([{ timeout: '4s', pid }]);
    });

    it('does not let a later write through after COMMIT or BEGIN sent as the query', async () => {
      for (const control of ['COMMIT', 'BEGIN', 'ROLLBACK', 'BEGIN READ WRITE']) {
        const first = await query('ro', control);
        expect(first.status, control).toBeLessThan(500);
        const write = await query('ro', "INSERT INTO widgets VALUES (5, 'after-control', 1.00)");
        expect(write.status, `INSERT after ${control}`).toBe(400);
        expect(write.body.error.details.sqlstate, `INSERT after ${control}`).toBe('25006');
      }
      expect(await widgetsAsOwner()).toEqual({ rows: originalWidgets, intruders: null });
    });

    it('refuses "COMMIT; INSERT ..." in one query as two statements, and writes nothing', async () => {
      const res = await query(
        'ro-multi',
        "COMMIT; INSERT INTO widgets VALUES (99, 'smuggled', 1.00)",
        undefined,
        3_000,
      );
      // Soft, so that the state of the table is checked (and reported) whatever the answer was.
      expect.soft(res.status, res.text).toBe(400);
      expect.soft(res.body.error?.code).toBe('DB_QUERY_FAILED');
      expect.soft(res.body.error?.details?.sqlstate).toBe('42601');
      expect(await widgetsAsOwner()).toEqual({ rows: originalWidgets, intruders: null });
    });
  });

  it('refuses two statements in one query with SQLSTATE 42601 and a message saying one statement per query', async () => {
    const res = await query('multi', 'SELECT 1 AS a; SELECT 2 AS b', undefined, 3_000);
    expect(res.status, res.text).toBe(400);
    expect(res.body.error.code).toBe('DB_QUERY_FAILED');
    expect(res.body.error.details.sqlstate).toBe('42601');
    expect(res.body.error.message).toMatch(/one statement/);
    const after = await query('multi', 'SELECT 3 AS c', undefined, 3_000);
    expect(after.status, after.text).toBe(200);
    expect(after.body.rows).toEqual([{ c: 3 }]);
  });

  describe('statementTimeoutMs', () => {
    it("cancels SELECT pg_sleep(5) with SQLSTATE 57014 soon after the integration's 300 ms", async () => {
      const res = await query('slow', 'SELECT pg_sleep(5)');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('DB_QUERY_FAILED');
      expect(res.body.error.details.sqlstate).toBe('57014');
      expect((await query('slow', 'SHOW statement_timeout')).body.rows).toEqual([{ statement_timeout: '300ms' }]);
    });

    it('takes CREDFLOW_STATEMENT_TIMEOUT_MS when the integration sets none', async () => {
      expect((await query('defaults', 'SHOW statement_timeout')).body.rows).toEqual([{ statement_timeout: '700ms' }]);
      const res = await query('defaults', 'SELECT pg_sleep(5)');
      expect(res.body.error.details.sqlstate).toBe('57014');
    });

    it('cancels a statement that outlives the timeout by 2 s even after SET statement_timeout = 0, and the next query works', async () => {
      const set = await query('watchdog', 'SET statement_timeout = 0');
      expect(set.status).toBe(200);
      // The session now has no server-side timeout: only the agent's watchdog (300 ms + 2 s) stops this.
      expect((await query('watchdog', 'SHOW statement_timeout')).body.rows).toEqual([{ statement_timeout: '0' }]);
      const res = await query('watchdog', 'SELECT pg_sleep(8)');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('DB_QUERY_FAILED');
      expect(res.body.error.details.sqlstate).toBe('57014');
      expect(res.ms).toBeGreaterThanOrEqual(2_000);
      const next = await query('watchdog', 'SELECT 1 AS one');
      expect(next.status).toBe(200);
      expect(next.body.rows).toEqual([{ one: 1 }]);
      // The cancelled session was discarded: the next one has the configured timeout again.
      expect((await query('watchdog', 'SHOW statement_timeout')).body.rows).toEqual([{ statement_timeout: '300ms' }]);
    });
  });

  describe('maxRows and maxResultBytes', () => {
    it('keeps maxRows rows, says truncated and still reports the rowCount of the server', async () => {
      const res = await query('rows', 'SELECT generate_series(1, 1000) AS n');
      expect(res.status).toBe(200);
      expect(res.body.rows).toEqual(Array.from({ length: 10 }, (_, i) => ({ n: i + 1 })));
      expect(res.body.truncated).toEqual({ reason: 'maxRows', limit: 10 });
      expect(res.body.rowCount).toBe(1000);
    });

    it('has no truncated key when the result fits', async () => {
      for (const count of [3, 10]) {
        const res = await query('rows', `SELECT generate_series(1, ${count}) AS n`);
        expect(res.status).toBe(200);
        expect(res.body.rows).toHaveLength(count);
        expect(res.body.rowCount).toBe(count);
        expect(res.body).not.toHaveProperty('truncated');
      }
    });

    it('takes CREDFLOW_QUERY_MAX_ROWS when the integration sets none', async () => {
      const res = await query('defaults', 'SELECT generate_series(1, 200) AS n');
      expect(res.status).toBe(200);
      expect(res.body.rows).toHaveLength(50);
      expect(res.body.truncated).toEqual({ reason: 'maxRows', limit: 50 });
      expect(res.body.rowCount).toBe(200);
    });

    it('returns only the wide rows that fit in maxResultBytes', async () => {
      const res = await query('bytes', "SELECT repeat('x', 1000) AS wide FROM generate_series(1, 20)");
      expect(res.status).toBe(200);
      expect(res.body.truncated).toEqual({ reason: 'maxResultBytes', limit: 5000 });
      expect(res.body.rowCount).toBe(20);
      const rows = res.body.rows as { wide: string }[];
      expect(rows).toHaveLength(5);
      expect(rows.every((r) => r.wide === 'x'.repeat(1000))).toBe(true);
      expect(rows.reduce((sum, r) => sum + r.wide.length, 0)).toBeLessThanOrEqual(5000);

      const fits = await query('bytes', "SELECT repeat('x', 1000) AS wide FROM generate_series(1, 4)");
      expect(fits.body.rows).toHaveLength(4);
      expect(fits.body).not.toHaveProperty('truncated');
    });
  });

  describe('database errors keep SQLSTATE and message, never where the agent connects', () => {
    it('keeps 42P01 and the relation name', async () => {
      const res = await query('plain', 'SELECT * FROM no_such_table');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('DB_QUERY_FAILED');
      expect(res.body.error.details.sqlstate).toBe('42P01');
      expect(res.body.error.message).toContain('relation "no_such_table" does not exist');
      expectNoConnectionDetails(res.text);
    });

    it('says password authentication failed without the user name', async () => {
      const res = await query('wrong-password', 'SELECT 1');
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe('DB_AUTH_FAILED');
      expect(res.body.error.details.sqlstate).toBe('28P01');
      expect(res.body.error.message).toContain('password authentication failed');
      expectNoConnectionDetails(res.text);
    });

    it('reports a closed port without host:port', async () => {
      const res = await query('closed-port', 'SELECT 1');
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe('DB_CONNECT_FAILED');
      expect(res.body.error.message).toMatch(/could not connect/);
      expect(res.body.error.message).toContain('ECONNREFUSED');
      expect(res.text).not.toContain(`${db.host}:${closedPort}`);
      expectNoConnectionDetails(res.text);
    });

    it('reports a missing database (3D000) without its name', async () => {
      const res = await query('missing-db', 'SELECT 1');
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe('DB_CONNECT_FAILED');
      expect(res.body.error.details.sqlstate).toBe('3D000');
      expect(res.body.error.message).toContain('does not exist');
      expectNoConnectionDetails(res.text);
    });

    it('scrubs the role, database, host and password where the server quotes them in a query error', async () => {
      // PostgreSQL quotes the role in both the message and the detail of this one.
      const grant = await query('plain', `GRANT ${db.username} TO ${db.username}`);
      expect(grant.status).toBe(400);
      expect(grant.body.error.details.sqlstate).toBe('42501');
      expect(grant.body.error.message).toContain('permission denied to grant role "<user>"');
      expect(grant.body.error.details.detail).toMatch(/ADMIN option on role "<user>"/);
      expectNoConnectionDetails(grant.text);

      const alter = await query('plain', `ALTER ROLE ${db.username} CREATEDB`);
      expect(alter.body.error.details.sqlstate).toBe('42501');
      expect(alter.body.error.message).toContain('permission denied to alter role');
      expectNoConnectionDetails(alter.text);

      const database = await query('plain', 'SELECT current_database()::int');
      expect(database.body.error.details.sqlstate).toBe('22P02');
      expect(database.body.error.message).toContain('invalid input syntax for type integer');
      expectNoConnectionDetails(database.text);

      const host = await query('plain', 'SELECT host(inet_server_addr())::int');
      expect(host.body.error.details.sqlstate).toBe('22P02');
      expectNoConnectionDetails(host.text);

      const password = await query('plain', 'SELECT $1::int', [db.password]);
      expect(password.body.error.details.sqlstate).toBe('22P02');
      expectNoConnectionDetails(password.text);
    });
  });

  it('names the file and field of a bad readOnly, maxRows, statementTimeoutMs or maxResultBytes', async () => {
    const base = (name: string, extra: Record<string, unknown>) => ({
      name,
      kind: 'postgres',
      connection: { host: 'db.internal', database: 'app', user: 'app' },
      ...extra,
    });
    const folder = await writeConfigDir({
      integrations: {
        'bad-readonly': base('bad-readonly', { readOnly: 'yes' }),
        'bad-rows': base('bad-rows', { maxRows: 0 }),
        'bad-timeout': base('bad-timeout', { statementTimeoutMs: -1 }),
        'bad-bytes': base('bad-bytes', { maxResultBytes: 1.5 }),
        good: base('good', { readOnly: true, maxRows: 1, statementTimeoutMs: 0, maxResultBytes: 1 }),
      },
    });
    try {
      const config = await loadConfig(folder.dir, {});
      const lineOf = (file: string, field: string) =>
        config.problems.find((p) => p.startsWith(`integrations/${file}.json: ${field}: `));
      expect(lineOf('bad-readonly', 'readOnly')).toMatch(/boolean/);
      expect(lineOf('bad-rows', 'maxRows')).toMatch(/>=\s*1|too small/i);
      expect(lineOf('bad-timeout', 'statementTimeoutMs')).toMatch(/>=\s*0|too small/i);
      expect(lineOf('bad-bytes', 'maxResultBytes')).toMatch(/int/i);
      expect(config.problems).toHaveLength(4);
      expect([...config.integrations.keys()]).toEqual(['good']);
      expect(config.integrations.get('good')).toMatchObject({
        readOnly: true,
        maxRows: 1,
        statementTimeoutMs: 0,
        maxResultBytes: 1,
      });
    } finally {
      await folder.remove();
    }
  });

  describe('sessions, rows and text that the review found', () => {
    const asToken = (token: string, name: string, sql: string): Promise<Answer> =>
      ask('POST', `/api/v1/integrations/${name}/query`, { sql }, undefined, token);

    it('refuses a second statement hidden behind a -- comment ended by a carriage return, and runs nothing', async () => {
      const res = await query('plain', "SELECT 1 AS a -- c\r; INSERT INTO widgets VALUES (98, 'smuggled', 1.00)");
      expect(res.status).toBe(400);
      expect(res.body.error.details?.sqlstate).toBe('42601');
      expect((await widgetsAsOwner()).rows).toEqual(originalWidgets);
    });

    it("resets a session before it serves another token: a temporary table one caller made does not shadow the other's table", async () => {
      expect(
        (await asToken(t.token, 'plain', "CREATE TEMP TABLE widgets AS SELECT 666 AS id, 'shadow' AS name")).status,
      ).toBe(200);
      // The same caller keeps its own session state.
      const own = await asToken(t.token, 'plain', 'SELECT id FROM widgets');
      expect(own.body.rows).toEqual([{ id: 666 }]);
      const other = await asToken('second-token-abcdef', 'plain', 'SELECT id FROM widgets ORDER BY id');
      expect(other.status).toBe(200);
      expect(other.body.rows.map((r: { id: number }) => r.id)).toEqual(
        originalWidgets.map((w) => (w as { id: number }).id),
      );
    });

    it('leaves no advisory lock or prepared statement behind a readOnly query', async () => {
      expect((await query('ro', 'SELECT pg_advisory_lock(4242)')).status).toBe(200);
      expect((await query('ro', 'PREPARE leftover AS SELECT 1')).status).toBe(200);
      const prepared = await query('ro', 'SELECT count(*)::int AS n FROM pg_prepared_statements');
      expect(prepared.body.rows).toEqual([{ n: 0 }]);
      const client = new pg.Client({
        host: db.host,
        port: db.port,
        user: db.username,
        password: db.password,
        database: db.dbname,
      });
      await client.connect();
      try {
        expect((await client.query('SELECT pg_try_advisory_lock(4242) AS got')).rows).toEqual([{ got: true }]);
      } finally {
        await client.end();
      }
    });

    it('drops a single row larger than maxResultBytes before pg reads it, reports the truncation, and keeps serving', async () => {
      const res = await query('ro', "SELECT repeat('x', 70 * 1024 * 1024) AS big", undefined, 20_000);
      expect(res.status).toBe(200);
      expect(res.body.rows).toEqual([]);
      expect(res.body.truncated).toEqual({ reason: 'maxResultBytes', limit: 16 * 1024 * 1024 });
      expect((await query('ro', 'SELECT 1 AS ok')).body.rows).toEqual([{ ok: 1 }]);
    }, 30_000);
  });
});

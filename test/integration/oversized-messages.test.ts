import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresIntegration, secretsWorkflow } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/**
 * Issue 10, sections 1 and 2: every backend message is judged before pg decodes it, and database
 * error texts are cut. Each oversized kind is sent by the real embedded PostgreSQL through the real
 * agent, which must then still answer /healthz and the next query.
 */

const rdsSecret = (db: TestDatabase) => ({
  SecretString: JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password: db.password,
    dbname: db.dbname,
  }),
});

const integration = (name: string, limits: Record<string, unknown> = {}) => ({
  ...postgresIntegration(name, 'getSecrets'),
  ...limits,
});

async function startAgentOn(db: TestDatabase, env: Record<string, string>): Promise<TestAgent> {
  const t = await startTestAgent(
    {
      workflows: { getSecrets: secretsWorkflow('getSecrets', 'postgresSecrets') },
      integrations: {
        plain: integration('plain'),
        limited: integration('limited', { readOnly: true, maxRows: 5, maxResultBytes: 10_000 }),
      },
    },
    { CREDFLOW_POOL_MAX: '1', CREDFLOW_STATEMENT_TIMEOUT_MS: '60000', ...env },
  );
  t.secrets.createSecret('postgresSecrets', rdsSecret(db));
  return t;
}

const query = (t: TestAgent, name: string, sql: string) =>
  t.request('POST', `/api/v1/integrations/${name}/query`, { sql });

/** The agent still answers: /healthz, and a query on the same (one-connection) pool. */
async function expectStillServing(t: TestAgent, name = 'plain'): Promise<void> {
  expect((await t.request('GET', '/healthz')).status).toBe(200);
  const next = await query(t, name, 'SELECT 41 + 1 AS answer');
  expect(next.status).toBe(200);
  expect(next.body.rows).toEqual([{ answer: 42 }]);
}

describe('oversized backend messages, with the default message bound', () => {
  let db: TestDatabase;
  let t: TestAgent;

  beforeAll(async () => {
    db = await createTestDatabase('om');
    t = await startAgentOn(db, {});
  });

  afterAll(async () => {
    await Promise.race([t?.close(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
  });

  it('fails a cast error of 540 million characters (an ErrorResponse) with RESULT_TOO_LARGE and keeps serving', async () => {
    const res = await query(t, 'plain', 'SELECT repeat(chr(120), 540000000)::int');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('RESULT_TOO_LARGE');
    expect(res.body.error.details.messageType).toBe('ErrorResponse');
    expect(res.body.error.message).toMatch(
      /sent a ErrorResponse of \d+ bytes, over the limit of 1048576 bytes for one message/,
    );
    await expectStillServing(t);
  }, 120_000);

  it('fails a 20 MB RAISE EXCEPTION with RESULT_TOO_LARGE rather than returning its text', async () => {
    const res = await query(t, 'plain', "DO $$BEGIN RAISE EXCEPTION '%', repeat('x', 20000000); END$$");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('RESULT_TOO_LARGE');
    expect(res.text.length).toBeLessThan(2_000);
    await expectStillServing(t);
  }, 60_000);

  it('fails a 100 MB RAISE NOTICE (a NoticeResponse) with RESULT_TOO_LARGE and keeps serving', async () => {
    const res = await query(t, 'plain', "DO $$BEGIN RAISE NOTICE '%', repeat('x', 100000000); END$$");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('RESULT_TOO_LARGE');
    expect(res.body.error.details.messageType).toBe('NoticeResponse');
    await expectStillServing(t);
  }, 60_000);

  it('refuses COPY ... TO STDOUT (CopyData) clearly and keeps serving', async () => {
    const res = await query(t, 'plain', "COPY (SELECT repeat('x', 100000000)) TO STDOUT");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('DB_QUERY_FAILED');
    expect(res.body.error.message).toMatch(/COPY \.\.\. TO STDOUT and COPY \.\.\. FROM STDIN are not supported/);
    await expectStillServing(t);
  }, 60_000);

  it('refuses COPY ... FROM STDIN clearly and keeps serving', async () => {
    const res = await query(t, 'plain', 'COPY widgets FROM STDIN');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('DB_QUERY_FAILED');
    expect(res.body.error.message).toMatch(/not supported \(the server began a CopyInResponse\)/);
    await expectStillServing(t);
  });

  it('drops a 70 MB row (a DataRow over maxResultBytes) before pg reads it, keeps the rows before it and reports the truncation', async () => {
    const res = await query(
      t,
      'limited',
      "SELECT id, CASE WHEN id = 2 THEN repeat('x', 70000000) ELSE 'small' END AS v FROM generate_series(1, 3) id",
    );
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([{ id: 1, v: 'small' }]);
    expect(res.body.truncated).toEqual({ reason: 'maxResultBytes', limit: 10_000 });
    await expectStillServing(t, 'limited');
  }, 60_000);

  it('cuts a cast error that quotes 3000 rows to the result budget, so the rows do not leak around maxRows and maxResultBytes', async () => {
    const res = await query(
      t,
      'limited',
      'SELECT (SELECT string_agg(x::text||chr(45)||md5(x::text),chr(44)) FROM generate_series(1,3000) x)::int',
    );
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('DB_QUERY_FAILED');
    expect(res.body.error.details.sqlstate).toBe('22P02');
    expect(res.body.error.message).toMatch(
      /invalid input syntax for type integer: "1-c4ca4238a0b923820dcc509a6f75849b,2-/,
    );
    expect(res.body.error.message).toMatch(/… \(truncated\)$/);
    expect(res.text.length).toBeLessThan(10_000);
    expect(res.text).not.toContain('3000-');
  });

  it('cuts each of message, detail and hint to 8 KiB, and all three to maxResultBytes', async () => {
    const sql =
      "DO $$BEGIN RAISE EXCEPTION USING MESSAGE = repeat('m', 300000), DETAIL = repeat('d', 300000), HINT = repeat('h', 300000); END$$";
    const wide = await query(t, 'plain', sql);
    expect(wide.status).toBe(400);
    expect(wide.body.error.code).toBe('DB_QUERY_FAILED');
    expect(wide.body.error.message).toContain(`${'m'.repeat(8192)}… (truncated)`);
    expect(wide.body.error.message).not.toContain('m'.repeat(8193));
    expect(wide.body.error.details.detail).toBe(`${'d'.repeat(8192)}… (truncated)`);
    expect(wide.body.error.details.hint).toBe(`${'h'.repeat(8192)}… (truncated)`);

    const limited = await query(t, 'limited', sql);
    expect(limited.status).toBe(400);
    const { message, details } = limited.body.error;
    const serverText = message.length + (details.detail?.length ?? 0) + (details.hint?.length ?? 0);
    expect(serverText).toBeLessThanOrEqual(10_000 + 200);
    expect(limited.text.length).toBeLessThan(11_000);
    await expectStillServing(t, 'limited');
  });

  it('keeps returning rows after many small notices, none of which is kept', async () => {
    const res = await query(
      t,
      'plain',
      "DO $$BEGIN FOR i IN 1..20000 LOOP RAISE NOTICE 'notice %', i; END LOOP; END$$",
    );
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('notice 1');
    await expectStillServing(t);
  }, 60_000);
});

describe('oversized backend messages, with a small message bound (CREDFLOW_QUERY_MAX_MESSAGE_BYTES=2048)', () => {
  let db: TestDatabase;
  let t: TestAgent;

  beforeAll(async () => {
    db = await createTestDatabase('oms');
    t = await startAgentOn(db, { CREDFLOW_QUERY_MAX_MESSAGE_BYTES: '2048' });
  });

  afterAll(async () => {
    await Promise.race([t?.close(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
  });

  it('fails a query that receives a NotificationResponse over the bound, and keeps serving', async () => {
    expect((await query(t, 'plain', 'LISTEN big_channel')).status).toBe(200);
    const res = await query(t, 'plain', "SELECT pg_notify('big_channel', repeat('x', 7000))");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('RESULT_TOO_LARGE');
    expect(res.body.error.details).toMatchObject({ messageType: 'NotificationResponse', limit: 2048 });
    await expectStillServing(t);
  });

  it('closes an idle connection that receives a NotificationResponse over the bound, and keeps serving', async () => {
    expect((await query(t, 'plain', 'LISTEN idle_channel')).status).toBe(200);
    const outside = new pg.Client({
      host: db.host,
      port: db.port,
      user: db.username,
      password: db.password,
      database: db.dbname,
    });
    await outside.connect();
    try {
      await outside.query("SELECT pg_notify('idle_channel', repeat('y', 7000))");
    } finally {
      await outside.end();
    }
    // The pool reports the idle client's failure once the guard has closed it.
    for (let i = 0; i < 200 && !t.logs.text().includes('"event":"pool.idle_error"'); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(t.logs.text()).toContain('"event":"pool.idle_error"');
    await expectStillServing(t);
  });

  it('fails a query whose ParameterStatus (a reported search_path) is over the bound, and keeps serving', async () => {
    const res = await query(t, 'plain', "SELECT set_config('search_path', repeat('s,', 3000) || 'public', false)");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('RESULT_TOO_LARGE');
    expect(res.body.error.details.messageType).toBe('ParameterStatus');
    await expectStillServing(t);
  });

  it('refuses a new connection whose start-up ParameterStatus (a role-wide search_path) is over the bound, before pg decodes it', async () => {
    const set = await query(
      t,
      'plain',
      "DO $$BEGIN EXECUTE format('ALTER ROLE CURRENT_USER SET search_path = %s', repeat('s,', 3000) || 'public'); END$$",
    );
    expect(set.status).toBe(200);
    try {
      // A new pool, so the next query opens a new connection and the server reports the role's search_path at start-up.
      expect((await t.request('POST', '/api/v1/integrations/plain/invalidate')).status).toBe(200);
      const res = await query(t, 'plain', 'SELECT 1 AS one');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('RESULT_TOO_LARGE');
      expect(res.body.error.details).toMatchObject({ messageType: 'ParameterStatus', limit: 2048 });
    } finally {
      const outside = new pg.Client({
        host: db.host,
        port: db.port,
        user: db.username,
        password: db.password,
        database: db.dbname,
      });
      await outside.connect();
      await outside.query('ALTER ROLE CURRENT_USER RESET search_path').finally(() => outside.end());
    }
    await expectStillServing(t);
  });

  it('fails an ErrorResponse just over the bound with RESULT_TOO_LARGE, and keeps serving', async () => {
    const res = await query(t, 'plain', "DO $$BEGIN RAISE EXCEPTION '%', repeat('e', 3000); END$$");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('RESULT_TOO_LARGE');
    expect(res.body.error.details.messageType).toBe('ErrorResponse');
    await expectStillServing(t);
  });
});

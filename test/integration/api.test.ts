import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresIntegration, secretsWorkflow } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const rdsSecret = (db: TestDatabase, overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password: db.password,
    dbname: db.dbname,
    ...overrides,
  });

const step = (name: string, code: string) => ({ name, code });

describe('HTTP API against real PostgreSQL and a Secrets Manager endpoint', () => {
  let db: TestDatabase;
  let t: TestAgent;
  const wrongPassword = 'Wrong-pass&<>"\'{}-d41d8cd98f';

  beforeAll(async () => {
    db = await createTestDatabase('api');
    t = await startTestAgent(
      {
        workflows: {
          getSecrets: secretsWorkflow('getSecrets', 'postgresSecrets'),
          getWrong: secretsWorkflow('getWrong', 'wrongSecret'),
          getMissing: secretsWorkflow('getMissing', 'noSuchSecret'),
          getBadPort: secretsWorkflow('getBadPort', 'badPortSecret'),
          getBinary: {
            name: 'getBinary',
            params: { secretName: 'binarySecret' },
            steps: [
              step(
                'fetch',
                'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName }); return JSON.parse(base64.decode(r.SecretBinary));',
              ),
            ],
          },
          throws: { name: 'throws', steps: [step('boom', "throw new TypeError('the step gave up')")] },
          loops: { name: 'loops', limits: { stepTimeoutMs: 300 }, steps: [step('spin', 'while (true) {}')] },
          returnsFunction: { name: 'returnsFunction', steps: [step('fn', 'return { connect: () => 1 };')] },
          twoSteps: {
            name: 'twoSteps',
            params: { greeting: 'hello' },
            steps: [
              step(
                'first',
                "console.log('first step', params.greeting, Env.region_hint); return { word: params.greeting, who: context.workflow };",
              ),
              step('second', 'return { combined: first.output.word + " " + params.name, env: Env.region_hint };'),
            ],
          },
        },
        integrations: {
          'demo-postgres': postgresIntegration('demo-postgres', 'getSecrets'),
          'wrong-password': postgresIntegration('wrong-password', 'getWrong'),
          'missing-secret': postgresIntegration('missing-secret', 'getMissing'),
          'bad-port': postgresIntegration('bad-port', 'getBadPort'),
          'binary-secret': postgresIntegration('binary-secret', 'getBinary'),
          'uri-postgres': {
            name: 'uri-postgres',
            kind: 'postgres',
            fetchCredentialsDynamically: { enabled: true, workflow: 'getSecrets' },
            connection: {
              connectionString:
                'postgres://<<getSecrets.response.username>>:<<getSecrets.response.passwordEncoded>>@<<getSecrets.response.host>>:<<getSecrets.response.port>>/<<getSecrets.response.dbname>>',
            },
          },
        },
        // Its 401 tests send dozens of wrong tokens from one address: the failure limit (floods.test.ts) is lifted.
      },
      {
        CREDFLOW_AGENT_APP_ENV_REGION_HINT: 'eu-west-1',
        CREDFLOW_STATEMENT_TIMEOUT_MS: '500',
        CREDFLOW_HTTP_AUTH_FAILURE_LIMIT: '1000000',
      },
    );
    t.secrets.createSecret('postgresSecrets', {
      SecretString: rdsSecret(db, { passwordEncoded: encodeURIComponent(db.password) }),
    });
    t.secrets.createSecret('wrongSecret', { SecretString: rdsSecret(db, { password: wrongPassword }) });
    t.secrets.createSecret('badPortSecret', { SecretString: rdsSecret(db, { port: 'not-a-port' }) });
    t.secrets.createSecret('binarySecret', { SecretBinary: new TextEncoder().encode(rdsSecret(db)) });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('answers /healthz without a token', async () => {
    const res = await t.request('GET', '/healthz', undefined, null);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('returns the rows of a table through an integration whose password came from the secret store', async () => {
    const res = await t.request('POST', '/api/v1/integrations/demo-postgres/query', {
      sql: 'SELECT id, name, price FROM widgets ORDER BY id',
    });
    expect(res.status).toBe(200);
    expect(res.body.rowCount).toBe(3);
    expect(res.body.rows).toEqual([
      { id: 1, name: 'sprocket', price: '2.50' },
      { id: 2, name: 'gear', price: '4.00' },
      { id: 3, name: 'flange', price: '9.75' },
    ]);
    expect(res.body.fields.map((f: { name: string }) => f.name)).toEqual(['id', 'name', 'price']);
    expect(res.body.fields[0].dataTypeID).toBe(23);
    expect(t.secrets.countRequests('GetSecretValue')).toBeGreaterThan(0);
  });

  it('binds query parameters instead of building SQL from strings', async () => {
    const res = await t.request('POST', '/api/v1/integrations/demo-postgres/query', {
      sql: 'SELECT name FROM widgets WHERE name = $1',
      params: ["gear' OR '1'='1"],
    });
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([]);
    const ok = await t.request('POST', '/api/v1/integrations/demo-postgres/query', {
      sql: 'SELECT name FROM widgets WHERE id = $1',
      params: [2],
    });
    expect(ok.body.rows).toEqual([{ name: 'gear' }]);
  });

  it('connects through a connectionString template with a URL-encoded password', async () => {
    const res = await t.request('POST', '/api/v1/integrations/uri-postgres/query', {
      sql: 'SELECT count(*)::int AS n FROM widgets',
    });
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([{ n: 3 }]);
  });

  it('reads a binary secret, which arrives base64-encoded', async () => {
    const res = await t.request('POST', '/api/v1/integrations/binary-secret/query', { sql: 'SELECT 1 AS one' });
    expect(res.body.error).toBeUndefined();
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([{ one: 1 }]);
  });

  it('previews a workflow with the password masked and host, port, user and database readable', async () => {
    const res = await t.request('POST', '/api/v1/workflows/getSecrets/run', {});
    expect(res.status).toBe(200);
    expect(res.body.response).toMatchObject({
      host: db.host,
      port: db.port,
      username: db.username,
      dbname: db.dbname,
      password: '********',
    });
    expect(res.body.steps).toHaveLength(1);
    expect(res.body.steps[0]).toMatchObject({ name: 'fetch', logs: [] });
    expect(typeof res.body.steps[0].durationMs).toBe('number');
    expect(typeof res.body.durationMs).toBe('number');
    expect(res.text).not.toContain(db.password);
    expect(res.text).not.toContain(encodeURIComponent(db.password));
  });

  it('reveals the password when the caller asks for it', async () => {
    const res = await t.request('POST', '/api/v1/workflows/getSecrets/run', { reveal: true });
    expect(res.status).toBe(200);
    expect(res.body.response.password).toBe(db.password);
  });

  it('gives steps params merged over defaults, Env, context, console.log and earlier outputs', async () => {
    const res = await t.request('POST', '/api/v1/workflows/twoSteps/run', { params: { name: 'world' } });
    expect(res.status).toBe(200);
    expect(res.body.response).toEqual({ combined: 'hello world', env: 'eu-west-1' });
    expect(res.body.steps.map((s: { name: string }) => s.name)).toEqual(['first', 'second']);
    expect(res.body.steps[0].logs).toEqual(['first step hello eu-west-1']);
  });

  it('reports an authentication failure plainly, without the password', async () => {
    const res = await t.request('POST', '/api/v1/integrations/wrong-password/query', { sql: 'SELECT 1' });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('DB_AUTH_FAILED');
    expect(res.body.error.message).toMatch(/refused the credentials/);
    expect(res.body.error.details.sqlstate).toBe('28P01');
    expect(res.text).not.toContain(wrongPassword);
    expect(res.text).not.toContain(db.password);
  });

  it('says which stage failed when testing an integration', async () => {
    const auth = await t.request('POST', '/api/v1/integrations/wrong-password/test');
    expect(auth.status).toBe(502);
    expect(auth.body.error.details.stage).toBe('auth');
    const workflow = await t.request('POST', '/api/v1/integrations/missing-secret/test');
    expect(workflow.body.error.details.stage).toBe('workflow');
    const validation = await t.request('POST', '/api/v1/integrations/bad-port/test');
    expect(validation.body.error.details.stage).toBe('validation');
    const ok = await t.request('POST', '/api/v1/integrations/demo-postgres/test');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ ok: true, integration: 'demo-postgres' });
  });

  it('passes the AWS error name of a missing secret through to the caller', async () => {
    const res = await t.request('POST', '/api/v1/integrations/missing-secret/query', { sql: 'SELECT 1' });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('WORKFLOW_FAILED');
    expect(res.body.error.message).toContain('ResourceNotFoundException');
    expect(res.body.error.details).toMatchObject({ workflow: 'getMissing', step: 'fetch' });
  });

  it('names the secret id that Secrets Manager could not find', async () => {
    const res = await t.request('POST', '/api/v1/integrations/missing-secret/query', { sql: 'SELECT 1' });
    expect(res.body.error.message).toContain(
      "ResourceNotFoundException: Secrets Manager can't find the specified secret: noSuchSecret",
    );
  });

  describe('requests that are not what a route takes', () => {
    const raw = (method: string, route: string, headers: Record<string, string>, body?: string) =>
      fetch(`${t.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${t.token}`, ...headers },
        ...(body === undefined ? {} : { body }),
      });

    it('answers 415 naming the Content-Type header when a query body comes without one', async () => {
      const res = await raw(
        'POST',
        '/api/v1/integrations/demo-postgres/query',
        {},
        JSON.stringify({ sql: 'SELECT 1' }),
      );
      expect(res.status).toBe(415);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(body.error.message).toContain('Content-Type: application/json');
      expect(body.error.message).not.toContain('sql');
    });

    it('answers 415 when a body is sent as text/plain, naming the type it got', async () => {
      const res = await raw('POST', '/api/v1/workflows/getSecrets/run', { 'content-type': 'text/plain' }, '{}');
      expect(res.status).toBe(415);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
      expect(body.error.message).toContain('"text/plain"');
    });

    it('still takes test and invalidate with an empty body and no Content-Type', async () => {
      const test = await raw('POST', '/api/v1/integrations/demo-postgres/test', {});
      expect(test.status).toBe(200);
      const invalidate = await raw('POST', '/api/v1/integrations/demo-postgres/invalidate', {});
      expect(invalidate.status).toBe(200);
    });

    it('answers 405 with an Allow header for a known path and a wrong method', async () => {
      const query = await raw('GET', '/api/v1/integrations/demo-postgres/query', {});
      expect(query.status).toBe(405);
      expect(query.headers.get('allow')).toBe('POST, OPTIONS');
      expect(((await query.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
      const list = await raw('DELETE', '/api/v1/integrations', {});
      expect(list.status).toBe(405);
      expect(list.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
      const health = await fetch(`${t.url}/healthz`, { method: 'POST' });
      expect([health.status, health.headers.get('allow')]).toEqual([405, 'GET, HEAD, OPTIONS']);
    });

    it('keeps 404 for unknown paths and 401 before 405 without a token', async () => {
      expect((await raw('GET', '/api/v1/no-such-route', {})).status).toBe(404);
      const anonymous = await fetch(`${t.url}/api/v1/integrations/demo-postgres/query`, { method: 'GET' });
      expect(anonymous.status).toBe(401);
    });
  });

  it('names the integration and field when a rendered port is not a port', async () => {
    const res = await t.request('POST', '/api/v1/integrations/bad-port/query', { sql: 'SELECT 1' });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('CONNECTION_INVALID');
    expect(res.body.error.message).toContain('integration "bad-port"');
    expect(res.body.error.details.field).toBe('connection.port');
  });

  it('returns Postgres errors with their SQLSTATE', async () => {
    const res = await t.request('POST', '/api/v1/integrations/demo-postgres/query', {
      sql: 'SELECT * FROM no_such_table',
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('DB_QUERY_FAILED');
    expect(res.body.error.details.sqlstate).toBe('42P01');
    expect(res.body.error.message).toContain('no_such_table');
  });

  it('cancels a statement that runs past CREDFLOW_STATEMENT_TIMEOUT_MS, and the connection stays usable', async () => {
    const res = await t.request('POST', '/api/v1/integrations/demo-postgres/query', { sql: 'SELECT pg_sleep(5)' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('DB_QUERY_FAILED');
    expect(res.body.error.details.sqlstate).toBe('57014');
    const after = await t.request('POST', '/api/v1/integrations/demo-postgres/query', { sql: 'SELECT 2 AS two' });
    expect(after.body.rows).toEqual([{ two: 2 }]);
  });

  it('fails a step that throws with the step name and message, and keeps serving', async () => {
    const res = await t.request('POST', '/api/v1/workflows/throws/run', {});
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('WORKFLOW_FAILED');
    expect(res.body.error.message).toContain('"boom"');
    expect(res.body.error.message).toContain('TypeError: the step gave up');
    expect((await t.request('GET', '/healthz')).status).toBe(200);
  });

  it('ends a step that loops forever at its time limit, and keeps serving', async () => {
    const res = await t.request('POST', '/api/v1/workflows/loops/run', {});
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe('WORKFLOW_TIMEOUT');
    expect(res.body.error.message).toContain('300 ms');
    const after = await t.request('POST', '/api/v1/integrations/demo-postgres/query', { sql: 'SELECT 1 AS one' });
    expect(after.body.rows).toEqual([{ one: 1 }]);
  });

  it('refuses a response that holds a function, and keeps serving', async () => {
    const res = await t.request('POST', '/api/v1/workflows/returnsFunction/run', {});
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('WORKFLOW_FAILED');
    expect(res.body.error.message).toMatch(/the returned value\.connect is a function/);
    expect((await t.request('GET', '/api/v1/workflows')).status).toBe(200);
  });

  it('lets no request without a valid token through', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/integrations'],
      ['GET', '/api/v1/integrations/demo-postgres'],
      ['GET', '/api/v1/workflows'],
      ['GET', '/api/v1/workflows/getSecrets'],
      ['POST', '/api/v1/workflows/getSecrets/run', { reveal: true }],
      ['POST', '/api/v1/integrations/demo-postgres/test'],
      ['POST', '/api/v1/integrations/demo-postgres/query', { sql: 'SELECT 1' }],
      ['GET', '/api/v1/no-such-route'],
    ];
    const runsBefore = t.secrets.countRequests('GetSecretValue');
    for (const [method, route, body] of routes) {
      for (const token of [null, 'wrong-token', `${t.token}x`, '']) {
        const res = await t.request(method, route, body, token);
        expect(res.status, `${method} ${route} with ${String(token)}`).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHORIZED');
      }
    }
    expect(t.secrets.countRequests('GetSecretValue')).toBe(runsBefore);
    const second = await t.request('GET', '/api/v1/integrations', undefined, 'second-token-abcdef');
    expect(second.status).toBe(200);
  });

  it('lists and shows configuration as written, never resolved secrets', async () => {
    const list = await t.request('GET', '/api/v1/integrations');
    expect(list.body.integrations.map((i: { name: string }) => i.name)).toContain('demo-postgres');
    const one = await t.request('GET', '/api/v1/integrations/demo-postgres');
    expect(one.status).toBe(200);
    expect(one.body.config.connection.password).toBe('<<credentials.response.password>>');
    expect(one.text).not.toContain(db.password);
    const workflow = await t.request('GET', '/api/v1/workflows/getSecrets');
    expect(workflow.body.steps[0]).toMatchObject({ name: 'fetch', source: 'inline' });
  });

  it('answers unknown names with 404 and bad bodies with 400 naming the field', async () => {
    const missing = await t.request('POST', '/api/v1/integrations/nope/query', { sql: 'SELECT 1' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('INTEGRATION_NOT_FOUND');
    expect((await t.request('POST', '/api/v1/workflows/nope/run', {})).status).toBe(404);
    const noSql = await t.request('POST', '/api/v1/integrations/demo-postgres/query', { params: [] });
    expect(noSql.status).toBe(400);
    expect(noSql.body.error.message).toContain('sql');
    const badJson = await t.request('POST', '/api/v1/integrations/demo-postgres/query', '{"sql": ');
    expect(badJson.status).toBe(400);
    const huge = await t.request('POST', '/api/v1/integrations/demo-postgres/query', {
      sql: `SELECT '${'x'.repeat(200_000)}'`,
    });
    expect(huge.status).toBe(413);
    const extra = await t.request('POST', '/api/v1/workflows/getSecrets/run', { reveal: 'yes' });
    expect(extra.status).toBe(400);
    expect(extra.body.error.message).toContain('reveal');
  });

  it('never lets the database password into a log line or an unrevealed response', () => {
    const logs = t.logs.text();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toContain('credentials.resolve');
    for (const secret of [
      db.password,
      wrongPassword,
      encodeURIComponent(db.password),
      JSON.stringify(db.password).slice(1, -1),
    ]) {
      expect(logs).not.toContain(secret);
    }
    const inJson = JSON.stringify(db.password).slice(1, -1);
    const revealed = t.bodies.filter((b) => b.includes(db.password) || b.includes(inJson));
    // Only the one preview that asked to reveal carries the password.
    expect(revealed).toHaveLength(1);
    expect(JSON.parse(revealed[0] ?? '{}').response.password).toBe(db.password);
  });
});

describe('a failed workflow preview over HTTP', () => {
  let t: TestAgent;
  const password = `Pw-${randomBytes(12).toString('base64url')}`;
  const previewer = `previewer-${randomBytes(12).toString('base64url')}`;
  const revealer = `revealer-${randomBytes(12).toString('base64url')}`;
  const run = (body: unknown, token: string) => t.request('POST', '/api/v1/workflows/chattyFailure/run', body, token);

  beforeAll(async () => {
    t = await startTestAgent(
      {
        workflows: {
          // Logs the password it fetched, then fails.
          chattyFailure: {
            name: 'chattyFailure',
            steps: [
              step(
                'fetch',
                [
                  "const s = JSON.parse((await aws.secretsManager.getSecretValue({ SecretId: 'appSecret' })).SecretString);",
                  'console.log(`connecting as ${s.username} with ${s.password}`);',
                  "throw new Error('gave up after logging');",
                ].join('\n'),
              ),
            ],
          },
        },
      },
      {},
      {
        tokens: [
          { id: 'previewer', token: previewer, scopes: ['preview'] },
          { id: 'revealer', token: revealer, scopes: ['preview', 'reveal'] },
        ],
      },
    );
    t.secrets.createSecret('appSecret', { SecretString: JSON.stringify({ username: 'app', password }) });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('answers with the steps that ran in details.steps, the logged secret masked', async () => {
    const res = await run({}, previewer);
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({ code: 'WORKFLOW_FAILED', message: expect.stringContaining('gave up') });
    expect(res.body.error.details.steps).toEqual([
      { name: 'fetch', durationMs: expect.any(Number), logs: ['connecting as app with ********'] },
    ]);
    expect(res.text).not.toContain(password);
  });

  it('shows the logged secret to a token that may reveal, and refuses to reveal to one that may not', async () => {
    const revealed = await run({ reveal: true }, revealer);
    expect(revealed.status).toBe(502);
    expect(revealed.body.error.details.steps).toEqual([
      { name: 'fetch', durationMs: expect.any(Number), logs: [`connecting as app with ${password}`] },
    ]);
    const refused = await run({ reveal: true }, previewer);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');
    expect(refused.text).not.toContain(password);
  });
});

import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOfPlainToken, type TokenSpec } from '../../src/access/index.js';
import { startAgent, type RunningAgent } from '../../src/agent/index.js';
import { CredflowError } from '../../src/errors.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager/index.js';
import { captureLogs } from '../support/capture-logs.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir, type ConfigFiles } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/**
 * Scoped API tokens against the real express app on a real port: scopes per route family, name
 * patterns, listings, reveal, tokens files and the audit lines of every use and refusal.
 */

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

const ADMIN = 'admin-token-0123456789abcdef';
const AUDITOR = 'auditor-token-0123456789abcdef';
const plain = {
  reader: 'reader-token-0123456789abcdef',
  querier: 'querier-token-0123456789abcdef',
  analyst: 'analyst-token-0123456789abcdef',
  previewer: 'previewer-token-0123456789abcdef',
  revealer: 'revealer-token-0123456789abcdef',
  operator: 'operator-token-0123456789abcdef',
  ghost: 'ghost-token-0123456789abcdef',
} as const;

const tokenSpecs: TokenSpec[] = [
  { id: 'reader', token: plain.reader, scopes: ['read'] },
  { id: 'querier', token: plain.querier, scopes: ['query'], integrations: ['orders'] },
  { id: 'analyst', token: plain.analyst, scopes: ['read', 'query'], integrations: ['analytics-*'] },
  { id: 'previewer', token: plain.previewer, scopes: ['read', 'preview'], workflows: ['getSecrets'] },
  { id: 'revealer', token: plain.revealer, scopes: ['reveal'], workflows: ['getSecrets'] },
  { id: 'operator', token: plain.operator, scopes: ['admin'] },
  { id: 'ghost-hunter', token: plain.ghost, scopes: ['read', 'query', 'admin'], integrations: ['ghost'] },
  // Given only as its SHA-256: the agent never holds this token's text, so not even its masker does.
  { id: 'auditor', sha256: sha256Hex(AUDITOR), scopes: ['read', 'query', 'preview', 'reveal', 'admin'] },
];

const everyToken = [ADMIN, AUDITOR, ...Object.values(plain)];

const config: ConfigFiles = {
  workflows: {
    getSecrets: secretsWorkflow('getSecrets', 'postgresSecrets'),
    otherWf: { name: 'otherWf', steps: [{ name: 'constant', code: 'return { ok: true };' }] },
  },
  integrations: {
    orders: postgresIntegration('orders', 'getSecrets'),
    'analytics-eu': postgresIntegration('analytics-eu', 'getSecrets'),
    'analytics-us': postgresIntegration('analytics-us', 'getSecrets'),
    'secret-db': postgresIntegration('secret-db', 'getSecrets'),
  },
};

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

interface Answer {
  status: number;
  body: any;
  text: string;
}

interface RequestOptions {
  body?: unknown;
  /** A token to send as `Bearer <token>`; null sends no Authorization header. */
  token?: string | null;
  /** The raw Authorization header, instead of `token`. */
  authorization?: string;
}

interface ScopedAgent {
  running: RunningAgent;
  secrets: LocalSecretsManager;
  logs: TestAgent['logs'];
  dir: string;
  request(method: string, route: string, options?: RequestOptions): Promise<Answer>;
  close(): Promise<void>;
}

/** startTestAgent with the tokens (or the environment naming a tokens file) chosen here. */
async function startScopedAgent(options: {
  tokens?: (string | TokenSpec)[];
  env?: NodeJS.ProcessEnv;
}): Promise<ScopedAgent> {
  // The 401 tests send dozens of wrong tokens from one address: the failure limit (floods.test.ts) is lifted.
  const t = await startTestAgent(
    config,
    { CREDFLOW_HTTP_AUTH_FAILURE_LIMIT: '1000000', ...options.env },
    { tokens: options.tokens ?? 'configured' },
  );
  return {
    running: t.agent,
    secrets: t.secrets,
    logs: t.logs,
    dir: t.dir,
    request: (method, route, request = {}) =>
      t.request(
        method,
        route,
        request.body,
        request.authorization !== undefined
          ? { authorization: request.authorization }
          : request.token === null
            ? null
            : (request.token ?? ADMIN),
      ),
    close: () => t.close(),
  };
}

/** The JSON log lines written since `from`. */
const linesSince = (logs: ReturnType<typeof captureLogs>, from: number): Record<string, unknown>[] =>
  logs.lines.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>);

/** A 403 with the route's name taken out: what a caller could compare between two names. */
const shapeOf = (res: Answer, name: string) => ({
  status: res.status,
  code: res.body?.error?.code,
  message: String(res.body?.error?.message).split(name).join('<name>'),
  details: res.body?.error?.details,
  keys: Object.keys(res.body ?? {}),
});

describe('scoped API tokens', () => {
  let db: TestDatabase;
  let t: ScopedAgent;

  beforeAll(async () => {
    db = await createTestDatabase('acc');
    t = await startScopedAgent({ tokens: [ADMIN, ...tokenSpecs] });
    t.secrets.createSecret('postgresSecrets', rdsSecret(db));
  });

  afterAll(async () => {
    await t?.close();
  });

  it('answers 401 UNAUTHORIZED without a token, with a wrong token and with a malformed Authorization header, alike for names that exist or not', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/integrations'],
      ['GET', '/api/v1/integrations/orders'],
      ['GET', '/api/v1/integrations/orders/status'],
      ['GET', '/api/v1/workflows'],
      ['GET', '/api/v1/workflows/getSecrets'],
      ['POST', '/api/v1/workflows/getSecrets/run', { reveal: true }],
      ['POST', '/api/v1/integrations/orders/test'],
      ['POST', '/api/v1/integrations/orders/query', { sql: 'SELECT 1' }],
      ['POST', '/api/v1/integrations/orders/invalidate'],
      ['GET', '/metrics'],
    ];
    const attempts: RequestOptions[] = [
      { token: null },
      { token: 'wrong-token-0123456789abcdef' },
      { token: `${ADMIN}x` },
      { token: ADMIN.slice(0, -1) },
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}` },
      { authorization: `Token ${ADMIN}` },
      { authorization: `Bearer ${ADMIN} ${ADMIN}` },
      { authorization: ADMIN },
    ];
    const fetchesBefore = t.secrets.countRequests('GetSecretValue');
    for (const [method, route, body] of routes) {
      const missing = route.replace('/orders', '/no-such-integration').replace('/getSecrets', '/no-such-workflow');
      for (const attempt of attempts) {
        const label = `${method} ${route} with ${JSON.stringify(attempt)}`;
        const res = await t.request(method, route, { ...attempt, body });
        expect(res.status, label).toBe(401);
        expect(res.body, label).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
        const other = await t.request(method, missing, { ...attempt, body });
        expect(other.status, label).toBe(401);
        expect(other.text, `${label}: the same answer for ${missing}`).toBe(res.text);
      }
    }
    expect(t.secrets.countRequests('GetSecretValue')).toBe(fetchesBefore);
  });

  it('answers 403 FORBIDDEN on every route family to a token that lacks its scope', async () => {
    const cases: [keyof typeof plain, string, string, string, unknown?][] = [
      ['querier', 'read', 'GET', '/api/v1/integrations'],
      ['querier', 'read', 'GET', '/api/v1/integrations/orders'],
      ['querier', 'read', 'GET', '/api/v1/integrations/orders/status'],
      ['querier', 'read', 'GET', '/api/v1/workflows'],
      ['querier', 'read', 'GET', '/api/v1/workflows/getSecrets'],
      ['querier', 'read', 'GET', '/metrics'],
      ['reader', 'query', 'POST', '/api/v1/integrations/orders/test'],
      ['reader', 'query', 'POST', '/api/v1/integrations/orders/query', { sql: 'SELECT 1' }],
      ['operator', 'query', 'POST', '/api/v1/integrations/orders/query', { sql: 'SELECT 1' }],
      ['reader', 'preview', 'POST', '/api/v1/workflows/getSecrets/run', {}],
      ['querier', 'preview', 'POST', '/api/v1/workflows/getSecrets/run', { reveal: true }],
      ['previewer', 'reveal', 'POST', '/api/v1/workflows/getSecrets/run', { reveal: true }],
      ['querier', 'admin', 'POST', '/api/v1/integrations/orders/invalidate'],
      ['reader', 'admin', 'POST', '/api/v1/integrations/orders/invalidate'],
      ['revealer', 'read', 'GET', '/api/v1/workflows/getSecrets'],
    ];
    const fetchesBefore = t.secrets.countRequests('GetSecretValue');
    for (const [who, scope, method, route, body] of cases) {
      const label = `${who}: ${method} ${route}`;
      const res = await t.request(method, route, { token: plain[who], body });
      expect(res.status, label).toBe(403);
      expect(res.body.error.code, label).toBe('FORBIDDEN');
      expect(res.body.error.message, label).toContain(`"${scope}"`);
      expect(res.text, label).not.toContain(plain[who]);
    }
    expect(t.secrets.countRequests('GetSecretValue')).toBe(fetchesBefore);
  });

  it("answers 403 for names outside the token's patterns, identical in shape for names that do not exist", async () => {
    // [token, method, route with :name, body, an existing name it may not reach, a name that exists nowhere]
    const cases: [keyof typeof plain, string, string, unknown, string, string][] = [
      ['analyst', 'GET', '/api/v1/integrations/:name', undefined, 'orders', 'no-such-db'],
      ['analyst', 'GET', '/api/v1/integrations/:name/status', undefined, 'secret-db', 'no-such-db'],
      ['analyst', 'POST', '/api/v1/integrations/:name/query', { sql: 'SELECT 1' }, 'orders', 'no-such-db'],
      ['analyst', 'POST', '/api/v1/integrations/:name/test', undefined, 'secret-db', 'analytics'],
      ['querier', 'POST', '/api/v1/integrations/:name/query', { sql: 'SELECT 1' }, 'secret-db', 'orders-2'],
      ['ghost', 'POST', '/api/v1/integrations/:name/invalidate', undefined, 'orders', 'ghost-2'],
      ['previewer', 'GET', '/api/v1/workflows/:name', undefined, 'otherWf', 'no-such-workflow'],
      ['previewer', 'POST', '/api/v1/workflows/:name/run', {}, 'otherWf', 'no-such-workflow'],
      ['revealer', 'POST', '/api/v1/workflows/:name/run', { reveal: true }, 'otherWf', 'no-such-workflow'],
      // With only an integrations list, the token reaches no workflow; with only workflows, no integration.
      ['analyst', 'GET', '/api/v1/workflows/:name', undefined, 'getSecrets', 'no-such-workflow'],
      ['previewer', 'GET', '/api/v1/integrations/:name', undefined, 'orders', 'no-such-db'],
    ];
    const fetchesBefore = t.secrets.countRequests('GetSecretValue');
    for (const [who, method, pattern, body, existing, missing] of cases) {
      const label = `${who}: ${method} ${pattern}`;
      const forExisting = await t.request(method, pattern.replace(':name', existing), { token: plain[who], body });
      const forMissing = await t.request(method, pattern.replace(':name', missing), { token: plain[who], body });
      expect(forExisting.status, label).toBe(403);
      expect(forExisting.body.error.code, label).toBe('FORBIDDEN');
      expect(forExisting.body.error.message, label).toMatch(/^this token may not .+ the (integration|workflow) ".+"$/);
      expect(shapeOf(forMissing, missing), `${label}: ${missing} vs ${existing}`).toEqual(
        shapeOf(forExisting, existing),
      );
    }
    expect(t.secrets.countRequests('GetSecretValue')).toBe(fetchesBefore);

    // Within its patterns the same tokens get through.
    const analytics = await t.request('POST', '/api/v1/integrations/analytics-eu/query', {
      token: plain.analyst,
      body: { sql: 'SELECT 1 AS one' },
    });
    expect(analytics.status).toBe(200);
    expect(analytics.body.rows).toEqual([{ one: 1 }]);
    expect((await t.request('POST', '/api/v1/integrations/orders/test', { token: plain.querier })).status).toBe(200);
    expect(
      (await t.request('POST', '/api/v1/integrations/secret-db/invalidate', { token: plain.operator })).status,
    ).toBe(200);
  });

  it('answers 404 to a token allowed for "ghost", an integration that does not exist', async () => {
    for (const [method, route, body] of [
      ['GET', '/api/v1/integrations/ghost', undefined],
      ['GET', '/api/v1/integrations/ghost/status', undefined],
      ['POST', '/api/v1/integrations/ghost/query', { sql: 'SELECT 1' }],
      ['POST', '/api/v1/integrations/ghost/test', undefined],
      ['POST', '/api/v1/integrations/ghost/invalidate', undefined],
    ] as const) {
      const res = await t.request(method, route, { token: plain.ghost, body });
      expect(res.status, `${method} ${route}`).toBe(404);
      expect(res.body.error.code, `${method} ${route}`).toBe('INTEGRATION_NOT_FOUND');
    }
  });

  it("lists only the integrations and workflows within the token's patterns", async () => {
    const names = async (token: string, what: 'integrations' | 'workflows') => {
      const res = await t.request('GET', `/api/v1/${what}`, { token });
      expect(res.status).toBe(200);
      return (res.body[what] as { name: string }[]).map((i) => i.name).sort();
    };
    const allIntegrations = ['analytics-eu', 'analytics-us', 'orders', 'secret-db'];
    expect(await names(ADMIN, 'integrations')).toEqual(allIntegrations);
    expect(await names(ADMIN, 'workflows')).toEqual(['getSecrets', 'otherWf']);
    expect(await names(plain.reader, 'integrations')).toEqual(allIntegrations);
    expect(await names(plain.reader, 'workflows')).toEqual(['getSecrets', 'otherWf']);
    expect(await names(plain.analyst, 'integrations')).toEqual(['analytics-eu', 'analytics-us']);
    expect(await names(plain.analyst, 'workflows')).toEqual([]);
    expect(await names(plain.previewer, 'integrations')).toEqual([]);
    expect(await names(plain.previewer, 'workflows')).toEqual(['getSecrets']);
    expect(await names(plain.ghost, 'integrations')).toEqual([]);
  });

  it('masks previews for a preview token and refuses it reveal; a reveal token previews and sees the password', async () => {
    const masked = await t.request('POST', '/api/v1/workflows/getSecrets/run', { token: plain.previewer, body: {} });
    expect(masked.status).toBe(200);
    expect(masked.body.masked).toBe(true);
    expect(masked.body.response).toMatchObject({ username: db.username, password: '********' });
    expect(masked.text).not.toContain(db.password);

    const refused = await t.request('POST', '/api/v1/workflows/getSecrets/run', {
      token: plain.previewer,
      body: { reveal: true },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');
    expect(refused.body.error.message).toContain('"reveal"');
    expect(refused.text).not.toContain(db.password);

    // reveal implies preview
    const previewed = await t.request('POST', '/api/v1/workflows/getSecrets/run', { token: plain.revealer, body: {} });
    expect(previewed.status).toBe(200);
    expect(previewed.body.response.password).toBe('********');
    const revealed = await t.request('POST', '/api/v1/workflows/getSecrets/run', {
      token: plain.revealer,
      body: { reveal: true },
    });
    expect(revealed.status).toBe(200);
    expect(revealed.body.masked).toBe(false);
    expect(revealed.body.response.password).toBe(db.password);
  });

  it('writes one audit line per query, test, preview, reveal, invalidate and refusal, with the token id and never the token', async () => {
    const auditLinesOf = async (run: () => Promise<Answer>, expectedStatus: number) => {
      const from = t.logs.lines.length;
      const res = await run();
      expect(res.status, res.text).toBe(expectedStatus);
      return linesSince(t.logs, from).filter((l) => l.event === 'audit');
    };
    const as = (method: string, route: string, body?: unknown) => () =>
      t.request(method, route, { token: AUDITOR, body });
    const common = { event: 'audit', tokenId: 'auditor', durationMs: expect.any(Number) };

    // Soft, so that every action's line is checked and reported.
    expect.soft(await auditLinesOf(as('POST', '/api/v1/integrations/orders/query', { sql: 'SELECT 1' }), 200)).toEqual([
      expect.objectContaining({
        ...common,
        action: 'query',
        route: 'POST /api/v1/integrations/:name/query',
        integration: 'orders',
        workflow: 'getSecrets',
        profile: 'default',
        outcome: 'ok',
      }),
    ]);
    const failed = await auditLinesOf(
      as('POST', '/api/v1/integrations/orders/query', { sql: 'SELECT * FROM no_such_table' }),
      400,
    );
    expect.soft(failed).toEqual([
      expect.objectContaining({
        ...common,
        action: 'query',
        integration: 'orders',
        outcome: 'error',
        code: 'DB_QUERY_FAILED',
      }),
    ]);
    expect.soft(await auditLinesOf(as('POST', '/api/v1/integrations/orders/test'), 200)).toEqual([
      expect.objectContaining({
        ...common,
        action: 'test',
        route: 'POST /api/v1/integrations/:name/test',
        integration: 'orders',
        workflow: 'getSecrets',
        profile: 'default',
        outcome: 'ok',
      }),
    ]);
    expect.soft(await auditLinesOf(as('POST', '/api/v1/workflows/getSecrets/run', {}), 200)).toEqual([
      expect.objectContaining({
        ...common,
        action: 'preview',
        route: 'POST /api/v1/workflows/:name/run',
        workflow: 'getSecrets',
        profile: 'default',
        outcome: 'ok',
      }),
    ]);
    expect.soft(await auditLinesOf(as('POST', '/api/v1/workflows/getSecrets/run', { reveal: true }), 200)).toEqual([
      expect.objectContaining({
        ...common,
        action: 'reveal',
        route: 'POST /api/v1/workflows/:name/run',
        workflow: 'getSecrets',
        profile: 'default',
        outcome: 'ok',
      }),
    ]);
    expect.soft(await auditLinesOf(as('POST', '/api/v1/integrations/orders/invalidate'), 200)).toEqual([
      expect.objectContaining({
        ...common,
        action: 'invalidate',
        route: 'POST /api/v1/integrations/:name/invalidate',
        integration: 'orders',
        workflow: 'getSecrets',
        outcome: 'ok',
      }),
    ]);

    const unauthorized = await auditLinesOf(
      () =>
        t.request('POST', '/api/v1/integrations/orders/query', { token: `${AUDITOR}-nope`, body: { sql: 'SELECT 1' } }),
      401,
    );
    expect.soft(unauthorized).toEqual([
      expect.objectContaining({
        event: 'audit',
        action: 'access',
        outcome: 'unauthorized',
        route: 'POST /api/v1/integrations/orders/query',
      }),
    ]);
    expect.soft(unauthorized[0]).not.toHaveProperty('tokenId');

    const forbidden = await auditLinesOf(
      () =>
        t.request('POST', '/api/v1/integrations/secret-db/query', { token: plain.querier, body: { sql: 'SELECT 1' } }),
      403,
    );
    expect.soft(forbidden).toEqual([
      expect.objectContaining({
        event: 'audit',
        action: 'access',
        outcome: 'forbidden',
        tokenId: 'querier',
        route: 'POST /api/v1/integrations/secret-db/query',
      }),
    ]);
    const forbiddenReveal = await auditLinesOf(
      () => t.request('POST', '/api/v1/workflows/getSecrets/run', { token: plain.previewer, body: { reveal: true } }),
      403,
    );
    expect
      .soft(forbiddenReveal)
      .toEqual([
        expect.objectContaining({ event: 'audit', action: 'access', outcome: 'forbidden', tokenId: 'previewer' }),
      ]);

    const logs = t.logs.text();
    expect(logs).toContain('"tokenId":"auditor"');
    for (const secret of [db.password, JSON.stringify(db.password).slice(1, -1), ...everyToken]) {
      expect(logs).not.toContain(secret);
    }
  });

  it('serves /metrics only to a token with read over every integration and workflow', async () => {
    for (const token of [ADMIN, plain.reader]) {
      const res = await t.request('GET', '/metrics', { token });
      expect(res.status).toBe(200);
      expect(res.text).toMatch(/^# HELP /m);
    }
    for (const token of [plain.analyst, plain.previewer, plain.querier, plain.ghost]) {
      const res = await t.request('GET', '/metrics', { token });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
    }
    expect((await t.request('GET', '/metrics', { token: null })).status).toBe(401);
  });
});

describe('tokens files (CREDFLOW_TOKENS_FILE)', () => {
  let db: TestDatabase;
  let tmp: string;

  beforeAll(async () => {
    db = await createTestDatabase('acf');
    tmp = await mkdtemp(path.join(os.tmpdir(), 'credflow-tokens-'));
  });

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('accepts tokens given as sha256 and plain tokens with ${VAR} expansion, and logs neither', async () => {
    const hashed = 'hashed-token-from-file-0123456789';
    const expanded = 'expanded-token-from-env-0123456789';
    const file = path.join(tmp, 'tokens.json');
    await writeFile(
      file,
      JSON.stringify({
        tokens: [
          { id: 'hashed-reader', sha256: sha256Hex(hashed).toUpperCase(), scopes: ['read'] },
          { id: 'env-querier', token: '${CF_TEST_QUERY_TOKEN}', scopes: ['query'], integrations: ['orders'] },
        ],
      }),
    );
    const a = await startScopedAgent({ env: { CREDFLOW_TOKENS_FILE: file, CF_TEST_QUERY_TOKEN: expanded } });
    try {
      a.secrets.createSecret('postgresSecrets', rdsSecret(db));
      expect(a.running.generatedToken).toBe(false);
      // Neither has every scope, so there is no administrator token to print.
      expect(a.running.tokens).toEqual([]);

      const list = await a.request('GET', '/api/v1/integrations', { token: hashed });
      expect(list.status).toBe(200);
      expect(list.body.integrations).toHaveLength(4);
      expect((await a.request('GET', '/api/v1/integrations', { token: sha256Hex(hashed) })).status).toBe(401);
      expect(
        (await a.request('POST', '/api/v1/integrations/orders/query', { token: hashed, body: { sql: 'SELECT 1' } }))
          .status,
      ).toBe(403);

      const rows = await a.request('POST', '/api/v1/integrations/orders/query', {
        token: expanded,
        body: { sql: 'SELECT 2 AS two' },
      });
      expect(rows.status).toBe(200);
      expect(rows.body.rows).toEqual([{ two: 2 }]);
      expect(
        (
          await a.request('POST', '/api/v1/integrations/secret-db/query', {
            token: expanded,
            body: { sql: 'SELECT 1' },
          })
        ).status,
      ).toBe(403);
      expect((await a.request('GET', '/api/v1/integrations', { token: '${CF_TEST_QUERY_TOKEN}' })).status).toBe(401);

      const logs = a.logs.text();
      expect(logs).toContain('"tokenId":"env-querier"');
      expect(logs).toContain('"tokenId":"hashed-reader"');
      for (const secret of [hashed, expanded, db.password]) expect(logs).not.toContain(secret);
    } finally {
      await a.close();
    }
  });

  it('refuses a bad tokens file with CONFIG_INVALID naming the file and JSON path, never quoting the token', async () => {
    const envToken = 'env-admin-token-0123456789abcdef';
    const cases: { name: string; content?: string; where: RegExp; secret?: string; env?: NodeJS.ProcessEnv }[] = [
      { name: 'missing.json', where: /file not found/ },
      {
        name: 'invalid.json',
        content: '{"tokens": [{"id": "broken", "token": "invalid-json-token-0123456789"',
        where: /not valid JSON/,
        secret: 'invalid-json-token-0123456789',
      },
      {
        name: 'scope.json',
        content: JSON.stringify({
          tokens: [{ id: 'root', token: 'unknown-scope-token-0123456789', scopes: ['read', 'superuser'] }],
        }),
        where: /tokens\[0\]\.scopes\[1\]: /,
        secret: 'unknown-scope-token-0123456789',
      },
      {
        name: 'both.json',
        content: JSON.stringify({
          tokens: [
            {
              id: 'both',
              token: 'both-forms-token-0123456789',
              sha256: sha256Hex('both-forms-token-0123456789'),
              scopes: ['read'],
            },
          ],
        }),
        where: /tokens\[0\]: .*exactly one of "token" or "sha256"/,
        secret: 'both-forms-token-0123456789',
      },
      {
        name: 'duplicate.json',
        content: JSON.stringify({
          tokens: [
            { id: 'twice', token: 'duplicate-id-token-a-0123456789', scopes: ['read'] },
            { id: 'twice', token: 'duplicate-id-token-b-0123456789', scopes: ['query'] },
          ],
        }),
        where: /tokens\[1\]\.id: duplicate token id "twice"/,
        secret: 'duplicate-id-token-',
      },
      {
        name: 'short.json',
        content: JSON.stringify({ tokens: [{ id: 'short', token: 'short-tok-123', scopes: ['read'] }] }),
        where: /tokens\[0\]\.token: must be at least 16 characters/,
        secret: 'short-tok-123',
      },
      // Issue 19: the rules of CREDFLOW_API_TOKENS and the tokens file are the same, and their ids apart.
      {
        name: 'spaced.json',
        content: JSON.stringify({ tokens: [{ id: 'spaced', token: 'spaced token 0123456789', scopes: ['read'] }] }),
        where: /tokens\[0\]\.token: must be printable ASCII without spaces/,
        secret: 'spaced token 0123456789',
      },
      {
        name: 'reserved.json',
        content: JSON.stringify({ tokens: [{ id: 'local', token: 'reserved-id-token-0123456789', scopes: ['read'] }] }),
        where: /tokens\[0\]\.id: is reserved/,
        secret: 'reserved-id-token-0123456789',
      },
      {
        name: 'env-id.json',
        content: JSON.stringify({
          tokens: [{ id: idOfPlainToken(envToken), token: 'env-id-token-0123456789', scopes: ['read'] }],
        }),
        env: { CREDFLOW_API_TOKENS: envToken },
        where: new RegExp(
          `tokens\\[0\\]\\.id: "${idOfPlainToken(envToken)}" is the id of a token in CREDFLOW_API_TOKENS`,
        ),
        secret: 'env-id-token-0123456789',
      },
    ];
    const folder = await writeConfigDir(config);
    try {
      for (const c of cases) {
        const file = path.join(tmp, c.name);
        if (c.content !== undefined) await writeFile(file, c.content);
        const logs = captureLogs();
        const error = await startAgent({
          dir: folder.dir,
          env: { CREDFLOW_TOKENS_FILE: file, ...c.env },
          port: 0,
          host: '127.0.0.1',
          logDestination: logs,
        }).then(
          async (running) => {
            await running.close();
            return undefined;
          },
          (e: unknown) => e,
        );
        expect(error, c.name).toBeInstanceOf(CredflowError);
        const e = error as CredflowError;
        expect(e.code, c.name).toBe('CONFIG_INVALID');
        expect(e.message, c.name).toContain(file);
        expect(e.message, c.name).toMatch(c.where);
        if (c.secret) {
          expect(e.message, c.name).not.toContain(c.secret);
          expect(JSON.stringify(e.details ?? {}), c.name).not.toContain(c.secret);
          expect(logs.text(), c.name).not.toContain(c.secret);
        }
      }
    } finally {
      await folder.remove();
    }
  });
});

/**
 * Property-based tests of every HTTP route of one real agent (real port, real PostgreSQL, a local
 * Secrets Manager endpoint): arbitrary names, query strings, bodies, content types and Authorization
 * headers. Every answer is a 4xx (or one of the documented 5xx of the database and workflow path),
 * errors are `{ error: { code, message } }` with a known code and no stack, nothing hangs, and the
 * agent still answers /healthz afterwards.
 */
import http from 'node:http';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorTable, isErrorCode, type ErrorCode } from '../../src/errors.js';
import { postgresIntegration, secretsWorkflow } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** A request that has not answered by then is a hang. */
const HANG_MS = 8_000;

/**
 * The only 5xx answers allowed, all from the database or workflow path; a 500 is always a failure.
 * DB_QUERY_FAILED is a 400 and needs no entry.
 */
const allowed5xx: Partial<Record<ErrorCode, number>> = {
  WORKFLOW_FAILED: 502,
  WORKFLOW_TIMEOUT: 504,
  DB_AUTH_FAILED: 502,
  DB_CONNECT_FAILED: 502,
  CREDENTIALS_UNAVAILABLE: 503,
  TEMPLATE_MISSING_VALUE: 502,
  CONNECTION_INVALID: 502,
};

const INTEGRATION = 'prop-db';
/** Its password comes from the secret's `pw`, a key the masker does not treat as secret by name. */
const ODD_INTEGRATION = 'odd-db';
const WORKFLOWS = ['getSecrets', 'echo'];

let db: TestDatabase;
let t: TestAgent;

/** The secret both integrations read, as the database expects it. */
const realSecret = (): string =>
  JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password: db.password,
    pw: db.password,
    dbname: db.dbname,
  });

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | undefined;
}

interface Res {
  status: number;
  text: string;
  contentType: string;
  ms: number;
}

/** One request through fetch; a hang (no answer within `limit`) is a failure naming the request. */
async function send(req: Req, limit = HANG_MS): Promise<Res> {
  const started = performance.now();
  const attempt = () =>
    fetch(`${t.url}${req.path}`, {
      method: req.method,
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(limit),
    });
  let res: Response;
  try {
    try {
      res = await attempt();
    } catch (error) {
      // After the agent stalled, a pooled keep-alive socket may be closed under a new request
      // (ECONNRESET): that is the client's pool, so the request is tried once more on a new socket.
      const code = (error as { cause?: { code?: string } }).cause?.code;
      if (code !== 'ECONNRESET' && code !== 'EPIPE' && code !== 'UND_ERR_SOCKET') throw error;
      res = await attempt();
    }
  } catch (error) {
    throw new Error(`${req.method} ${req.path.slice(0, 200)} got no answer within ${limit} ms: ${String(error)}`, {
      cause: error,
    });
  }
  const text = await res.text();
  const out = {
    status: res.status,
    text,
    contentType: res.headers.get('content-type') ?? '',
    ms: performance.now() - started,
  };
  record(req, out);
  return out;
}

/** Everything the agent answered, for the leak search startTestAgent runs on close (revealing previews excepted). */
function record(req: Req, res: Res): void {
  if (req.body?.includes('reveal')) return;
  t.alsoSearch.push({ where: `${req.method} ${req.path.slice(0, 120)} (property response)`, text: res.text });
}

/** A request sent exactly as written (`..` segments and all), which fetch would normalise. */
function sendRaw(method: string, rawPath: string, headers: Record<string, string>, limit = HANG_MS): Promise<Res> {
  const url = new URL(t.url);
  const started = performance.now();
  return new Promise<Res>((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, method, path: rawPath, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        clearTimeout(timer);
        const res = {
          status: response.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8'),
          contentType: String(response.headers['content-type'] ?? ''),
          ms: performance.now() - started,
        };
        record({ method, path: rawPath, headers }, res);
        resolve(res);
      });
      response.on('error', reject);
    });
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`${method} ${rawPath.slice(0, 200)} got no answer within ${limit} ms`));
    }, limit);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end();
  });
}

/**
 * The contract of every answer: no 500; a 5xx only with a documented code; errors as
 * `{ error: { code, message } }` with a code from src/errors.ts and its status; no stack anywhere.
 */
function expectContract(req: Pick<Req, 'method' | 'path'>, res: Res): void {
  const what = `${req.method} ${req.path.slice(0, 160)} -> ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, what).toBeGreaterThanOrEqual(200);
  expect(res.status, what).not.toBe(500);
  if (req.method === 'HEAD') return;
  if (res.status >= 400) {
    expect(res.contentType, what).toMatch(/^application\/json/);
    const body = JSON.parse(res.text) as { error?: { code?: unknown; message?: unknown } };
    expect(Object.keys(body), what).toEqual(['error']);
    const code = body.error?.code;
    const message = body.error?.message;
    expect(typeof code, what).toBe('string');
    expect(isErrorCode(code), what).toBe(true);
    if (isErrorCode(code)) expect(errorTable[code].status, what).toBe(res.status);
    expect(typeof message, what).toBe('string');
    expect((message as string).trim().length, what).toBeGreaterThan(0);
    // No stack, no source location, in the message or anywhere else in an error answer.
    for (const marker of ['    at ', 'node_modules']) expect(res.text, what).not.toContain(marker);
    expect(res.text, what).not.toMatch(/\.(ts|js):\d+/);
    if (res.status >= 500)
      expect(
        allowed5xx[code as ErrorCode],
        `${what}: a ${res.status} must be a documented database or workflow failure`,
      ).toBe(res.status);
  } else if (!req.path.startsWith('/metrics') && req.method !== 'OPTIONS') {
    expect(res.contentType, what).toMatch(/^application\/json/);
    expect(() => JSON.parse(res.text), what).not.toThrow();
  }
}

async function expectHealthy(limit = 2_000): Promise<void> {
  const res = await send({ method: 'GET', path: '/healthz', headers: {} }, limit);
  expect(res.status).toBe(200);
  expect(JSON.parse(res.text)).toEqual({ status: 'ok' });
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const oddUnits = [
  '\uD800',
  '\uDFFF',
  '\u200F',
  '\u202E',
  '\u0000',
  '😀',
  '\uFEFF',
  '\u2028',
  '\n',
  '\r',
  '\t',
  'é',
  'e\u0301',
  '中',
  '\\',
  '"',
  "'",
  '&<>',
  '{{',
  '}}',
  '<<',
  '>>',
  '${',
  '%',
  '/',
  '?',
  '#',
  '..',
  '://',
];
const oddString = fc
  .array(
    fc.oneof(
      fc.constantFrom(...oddUnits),
      fc.string({ maxLength: 4 }),
      fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
    ),
    { maxLength: 10 },
  )
  .map((parts) => parts.join(''));

/** Percent-encodes every UTF-8 byte that is not unreserved (a lone surrogate becomes EF BF BD). */
const encode = (text: string): string =>
  [...Buffer.from(text, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

/** A `:name` path segment, already encoded for the URL. */
const nameSegment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(INTEGRATION, ODD_INTEGRATION, ...WORKFLOWS) },
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,30}$/),
  oddString.filter((s) => s.length > 0).map(encode),
  fc.constantFrom(
    '..%2F',
    '..%2F..%2Fetc%2Fpasswd',
    '%2E%2E',
    '..%5C..%5C',
    '%00',
    'prop-db%00',
    '%ED%A0%80',
    '%C0%AF',
    '%FF',
    '%E0%A4%A',
    '%',
    '%zz',
    '%252F',
    'a%2Fb',
    '%20',
    '__proto__',
    'constructor',
    'prop-db%0Aevil',
    '%E2%80%AE',
  ),
  fc.integer({ min: 100, max: 8_000 }).map((n) => 'a'.repeat(n)),
  fc.integer({ min: 30, max: 500 }).map((n) => '%F0%9F%98%80'.repeat(n)),
);

/** A query string (with its `?`), or none. */
const queryString = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  fc.constantFrom(
    '?profile=default',
    '?profile=',
    '?profile',
    '?profile=a&profile=b',
    '?profile=nope',
    '?unknown=1',
    '?profile[x]=1',
    '?__proto__=x',
    '?constructor=1',
    '?%',
    '?&&&',
    '?=',
    '?profile=%00',
    '?profile=..%2F..',
    `?profile=${'a'.repeat(70)}`,
  ),
  oddString.map((s) => `?profile=${encode(s)}`),
  fc.tuple(oddString, oddString).map(([k, v]) => `?${encode(k)}=${encode(v)}`),
  fc
    .array(fc.tuple(fc.constantFrom('profile', 'x', 'profile[]', 'a.b'), oddString), { minLength: 1, maxLength: 4 })
    .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${encode(v)}`).join('&')}`),
);

/** Header-safe (Latin-1, no control characters but tab) junk. */
const headerJunk = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((c) => c !== 0x7f)
    .map((c) => String.fromCharCode(c)),
  maxLength: 40,
});

/** An Authorization header (undefined: none), mostly the valid token so that routes are reached. */
const authorization = (token: string): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(`Bearer ${token}`) },
    fc.constantFrom(
      undefined,
      'Bearer',
      'Bearer ',
      `bearer ${token}`,
      `BEARER\t${token}`,
      `Bearer ${token} extra`,
      `Bearer ${token}x`,
      `Basic ${Buffer.from(`u:${token}`).toString('base64')}`,
      'Bearer second-token-abcdef',
      `Bearer ${'a'.repeat(4_000)}`,
      'Bearer \u00ff\u00e9',
    ),
    headerJunk,
    headerJunk.map((junk) => `Bearer ${junk}`),
  );

type Route = { method: string; path: (name: string) => string; body?: 'run' | 'query' | 'empty' };

/** Every route of the API, plus unknown ones. */
const routes: Route[] = [
  { method: 'GET', path: () => '/healthz' },
  { method: 'GET', path: () => '/metrics' },
  { method: 'GET', path: () => '/api/v1/integrations' },
  { method: 'GET', path: (n) => `/api/v1/integrations/${n}` },
  { method: 'GET', path: () => '/api/v1/workflows' },
  { method: 'GET', path: (n) => `/api/v1/workflows/${n}` },
  { method: 'POST', path: (n) => `/api/v1/workflows/${n}/run`, body: 'run' },
  { method: 'POST', path: (n) => `/api/v1/integrations/${n}/test`, body: 'empty' },
  { method: 'GET', path: (n) => `/api/v1/integrations/${n}/status` },
  { method: 'POST', path: (n) => `/api/v1/integrations/${n}/invalidate`, body: 'empty' },
  { method: 'POST', path: (n) => `/api/v1/integrations/${n}/query`, body: 'query' },
];
const unknownRoutes: Route[] = [
  { method: 'GET', path: (n) => `/api/v1/${n}` },
  { method: 'GET', path: (n) => `/${n}` },
  { method: 'POST', path: (n) => `/api/v1/integrations/${n}/nope` },
  { method: 'DELETE', path: (n) => `/api/v1/integrations/${n}` },
  { method: 'PUT', path: (n) => `/api/v1/workflows/${n}` },
  { method: 'PATCH', path: () => '/api/v1/integrations' },
  { method: 'GET', path: (n) => `/api/v1/integrations/${n}/query` },
  { method: 'POST', path: () => '/healthz' },
  { method: 'GET', path: (n) => `/api/v2/integrations/${n}` },
  { method: 'OPTIONS', path: (n) => `/api/v1/integrations/${n}` },
  { method: 'HEAD', path: (n) => `/api/v1/integrations/${n}` },
  { method: 'HEAD', path: () => '/healthz' },
  { method: 'PROPFIND', path: () => '/api/v1/workflows' },
];

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const sqlText = fc.oneof(
  fc.constantFrom(
    'SELECT 1',
    'SELECT $1::text AS v',
    'SELECT id, name FROM widgets ORDER BY id',
    'SELECT * FROM no_such_table',
    'select',
    ';',
    '',
    ' ',
    'SELECT 1; SELECT 2',
    'SELECT 1 -- comment',
    "SELECT '\u0000'",
    '\u0000',
    'SELECT $1',
    'SELECT $2',
    'BEGIN',
    'ROLLBACK',
    'SELECT pg_sleep(0.01)',
    "SELECT repeat('x', 100000) AS big",
    'SELECT generate_series(1, 1000) AS n',
    "SELECT '{{x}}<<Env.y>>' AS t",
    'SELECT current_user',
  ),
  oddString,
  oddString.map((s) => `SELECT '${s.replace(/'/g, "''")}' AS v`),
  oddString.map((s) => `SELECT ${s}`),
);

/** SQL, with statements that act on the session (transactions, settings) more often. */
const sessionSql = fc.oneof(
  fc.constantFrom(
    'BEGIN',
    'START TRANSACTION',
    'COMMIT',
    'ROLLBACK',
    'END',
    'SAVEPOINT s',
    'ROLLBACK TO SAVEPOINT s',
    'SET statement_timeout = 0',
    'LOCK TABLE widgets',
    'DECLARE c CURSOR WITH HOLD FOR SELECT 1',
    'SELECT * FROM no_such_table',
  ),
  sqlText,
);

const queryParams = fc.array(
  fc.oneof(
    oddString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.oneof(fc.integer(), oddString), { maxLength: 3 }),
    fc.dictionary(oddString, jsonValue, { maxKeys: 2 }),
  ),
  { maxLength: 4 },
);

/** A well-formed body for the route, then maybe one field of the wrong type or an unknown field. */
function validish(kind: Route['body']): fc.Arbitrary<unknown> {
  const wrong = fc.oneof(
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant([]),
    fc.constant({}),
    oddString,
    fc.constant('x'.repeat(200_000)),
  );
  const base =
    kind === 'run'
      ? fc.record(
          { params: fc.dictionary(oddString, jsonValue, { maxKeys: 4 }), reveal: fc.boolean() },
          { requiredKeys: [] },
        )
      : kind === 'query'
        ? fc.record({ sql: sqlText, params: queryParams }, { requiredKeys: ['sql'] })
        : fc.constant({});
  const fields = kind === 'run' ? ['params', 'reveal'] : kind === 'query' ? ['sql', 'params'] : ['anything'];
  return fc
    .tuple(
      base,
      fc.option(
        fc.tuple(fc.constantFrom(...fields, 'unknownField', '__proto__', 'constructor', 'Sql', 'sql '), wrong),
        { nil: undefined, freq: 2 },
      ),
    )
    .map(([body, change]) => {
      const out = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
      if (change)
        Object.defineProperty(out, change[0], {
          value: change[1],
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return out;
    });
}

/** Body text for a POST: valid-ish JSON, wrong shapes, broken JSON, huge or deep. */
function bodyText(kind: Route['body']): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 4, arbitrary: validish(kind).map((b) => JSON.stringify(b)) },
    fc.constant(undefined),
    fc.constantFrom(
      '',
      ' ',
      'null',
      'true',
      '1',
      '"str"',
      '[]',
      '[{}]',
      '{',
      '{"sql": ',
      '{"sql": "SELECT 1",}',
      "{'sql': 'SELECT 1'}",
      '{"sql": "SELECT 1"} trailing',
      'NaN',
      '\uFEFF{}',
      '{"__proto__": {"polluted": true}}',
      '{"params": {"__proto__": {"polluted": true}}}',
      '{"constructor": {"prototype": {"polluted": true}}}',
    ),
    oddString,
    validish(kind)
      .map((b) => JSON.stringify(b))
      .chain((text) => fc.nat({ max: Math.max(text.length - 1, 0) }).map((cut) => text.slice(0, cut))),
    fc.integer({ min: 33, max: 40_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
    fc.integer({ min: 2, max: 31 }).map((depth) => `{"params": {"a": ${'['.repeat(depth)}${']'.repeat(depth)}}}`),
    fc.integer({ min: 100_001, max: 400_000 }).map((n) => JSON.stringify({ sql: `SELECT '${'x'.repeat(n)}'` })),
    fc.jsonValue().map((v) => JSON.stringify(v)),
  );
}

const contentType = fc.oneof(
  { weight: 5, arbitrary: fc.constant('application/json') },
  fc.constantFrom(
    undefined,
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json; charset=nope',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/vnd.api+json',
    'application/*',
    '*/*',
    'application/json;;;',
  ),
  headerJunk,
);
const contentEncoding = fc.oneof(
  { weight: 8, arbitrary: fc.constant(undefined) },
  fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-nope'),
);

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  db = await createTestDatabase('httpprop');
  t = await startTestAgent(
    {
      workflows: {
        getSecrets: secretsWorkflow('getSecrets', 'propSecrets'),
        // Returns its params, so that arbitrary run bodies reach the sandbox and the preview.
        echo: { name: 'echo', params: { greeting: 'hi' }, steps: [{ name: 'give', code: 'return params;' }] },
      },
      integrations: {
        [INTEGRATION]: postgresIntegration(INTEGRATION, 'getSecrets'),
        [ODD_INTEGRATION]: {
          name: ODD_INTEGRATION,
          kind: 'postgres',
          fetchCredentialsDynamically: { enabled: true, workflow: 'getSecrets' },
          connection: {
            host: '<<getSecrets.response.host>>',
            port: '<<getSecrets.response.port>>',
            database: '<<getSecrets.response.dbname>>',
            user: '<<getSecrets.response.username>>',
            password: '<<getSecrets.response.pw>>',
          },
        },
      },
    },
    // Hundreds of requests with wrong or no tokens from one address: the failure limit (see floods.test.ts) is lifted.
    {
      CREDFLOW_STATEMENT_TIMEOUT_MS: '2000',
      CREDFLOW_LOG_LEVEL: 'info',
      CREDFLOW_HTTP_AUTH_FAILURE_LIMIT: '1000000',
      // The store's password changes under integrations that worked: each refused query waits this
      // long for a rotation to finish (the wait itself is tested in rotation.test.ts).
      CREDFLOW_ROTATION_WAIT_MS: '100',
    },
  );
  t.secrets.createSecret('propSecrets', { SecretString: realSecret() });
  // The agent works before any property runs.
  const ok = await send({
    method: 'POST',
    path: `/api/v1/integrations/${INTEGRATION}/query`,
    headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
    body: '{"sql":"SELECT 1 AS one"}',
  });
  expect(ok.status).toBe(200);
});

/** Ends any transaction a property left open on the pooled sessions (cleanup, not an assertion). */
async function rollBackEverything(): Promise<void> {
  const headers = { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' };
  for (let i = 0; i < 3; i += 1) {
    await send(
      { method: 'POST', path: `/api/v1/integrations/${INTEGRATION}/query`, headers, body: '{"sql":"ROLLBACK"}' },
      60_000,
    );
  }
}

afterEach(async () => {
  // Whatever a property did, the agent is still there (and not stuck) for the next one.
  await expectHealthy(60_000);
  await rollBackEverything();
});

afterAll(async () => {
  await t?.close();
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('HTTP API properties', () => {
  it('answers every route with any name, query string and Authorization header within the contract', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes, ...unknownRoutes),
        nameSegment,
        queryString,
        authorization(t.token),
        async (route, name, query, header) => {
          const headers: Record<string, string> = {};
          if (header !== undefined) headers.authorization = header;
          let body: string | undefined;
          if (route.body) {
            headers['content-type'] = 'application/json';
            body = route.body === 'query' ? '{"sql":"SELECT 1 AS one"}' : '{}';
          }
          const req = { method: route.method, path: `${route.path(name)}${query}`, headers, body };
          const res = await send(req);
          expectContract(req, res);
          // Without a token nothing under /api/v1 or /metrics is served (fetch has normalised the path by now).
          const pathname = new URL(`${t.url}${req.path}`).pathname;
          if (
            header === undefined &&
            route.method !== 'OPTIONS' &&
            (pathname.startsWith('/api/v1/') || pathname === '/metrics')
          ) {
            expect(res.status, `${req.method} ${pathname.slice(0, 100)} without a token`).toBe(401);
          }
        },
      ),
      { numRuns: 200 },
    );
    await expectHealthy();
  });

  it('answers every known route asked with another method with 405 and an Allow header naming its method', async () => {
    for (const route of routes) {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].filter((m) => m !== route.method)) {
        const path = route.path(route.path('x').includes('/workflows/') ? 'echo' : INTEGRATION);
        const req = { method, path, headers: { authorization: `Bearer ${t.token}` } };
        const res = await fetch(`${t.url}${path}`, req);
        const what = `${method} ${path}`;
        expectContract(req, {
          status: res.status,
          text: await res.text(),
          contentType: res.headers.get('content-type') ?? '',
          ms: 0,
        });
        expect(res.status, what).toBe(405);
        expect(res.headers.get('allow')?.split(', '), what).toContain(route.method);
      }
    }
  });

  it('refuses a path with a malformed percent-encoding with a 400 that says so', async () => {
    for (const name of ['%ED%A0%80', '%FF', '%zz', '%E0%A4%A']) {
      for (const path of [`/api/v1/integrations/${name}/query`, `/api/v1/workflows/${name}/run`]) {
        const req = {
          method: 'POST',
          path,
          headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ sql: 'SELECT 1' }),
        };
        const res = await send(req);
        expectContract(req, res);
        expect(res.status, `${path}: ${res.text}`).toBe(400);
        expect(res.text).toContain('malformed percent-encoding');
      }
    }
  });

  it('answers every POST route with any body, content type and encoding within the contract', async () => {
    const post = routes.filter((r) => r.body);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...post).chain((route) => fc.tuple(fc.constant(route), bodyText(route.body))),
        fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, nameSegment),
        contentType,
        contentEncoding,
        fc.oneof({ weight: 5, arbitrary: fc.constant('') }, queryString),
        async ([route, body], name, type, encoding, query) => {
          const target = name ?? (route.path('x').includes('/workflows/') ? 'echo' : INTEGRATION);
          const headers: Record<string, string> = { authorization: `Bearer ${t.token}` };
          if (type !== undefined) headers['content-type'] = type;
          if (encoding !== undefined) headers['content-encoding'] = encoding;
          const req = { method: 'POST', path: `${route.path(target)}${query}`, headers, body };
          const res = await send(req);
          expectContract(req, res);
          // A path that cannot be decoded is refused: before its body is read (the query route) or
          // after (the others, whose body is parsed first, so an oversized one is 413 there).
          let decodable = true;
          try {
            decodeURIComponent(target);
          } catch {
            decodable = false;
          }
          if (!decodable) {
            expect([400, 413, 415], 'a malformed percent-encoding in the path is refused').toContain(res.status);
            if (res.status === 400 && res.text.includes('percent'))
              expect(res.text).toContain('malformed percent-encoding');
          } else if (
            body !== undefined &&
            Buffer.byteLength(body) > 100 * 1024 &&
            /^application\/json($|;\s*charset=utf-8)/.test(type ?? '') &&
            !encoding
          ) {
            expect(res.status, 'a JSON body over 100 kb is refused').toBe(413);
          }
        },
      ),
      { numRuns: 200 },
    );
    await expectHealthy();
    // No request body reached a prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('answers well-formed queries against a healthy database with 200 or a 400 naming the SQL problem, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(sqlText, fc.option(queryParams, { nil: undefined }), async (sql, params) => {
        fc.pre(sql.trim().length > 0);
        const body = JSON.stringify(params === undefined ? { sql } : { sql, params });
        const req = {
          method: 'POST',
          path: `/api/v1/integrations/${INTEGRATION}/query`,
          headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
          body,
        };
        const res = await send(req);
        expectContract(req, res);
        // The database is up and the credentials are right: whatever is wrong is the caller's SQL.
        const what = `${body.slice(0, 200)} -> ${res.status} ${res.text.slice(0, 300)}`;
        expect([200, 400], what).toContain(res.status);
        const parsed = JSON.parse(res.text) as { rows?: unknown; error?: { code: string } };
        if (res.status === 200) expect(Array.isArray(parsed.rows), what).toBe(true);
        else expect(['DB_QUERY_FAILED', 'BAD_REQUEST'], what).toContain(parsed.error?.code);
      }),
      { numRuns: 80 },
    );
  });

  it('leaves no state behind a query: every request runs in its own transaction on a working session', async () => {
    const query = (sql: string): Req => ({
      method: 'POST',
      path: `/api/v1/integrations/${INTEGRATION}/query`,
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql }),
    });
    const clock = async (): Promise<string> => {
      const res = await send(query('SELECT now()::text AS t'));
      expect(`${res.status} ${res.text.slice(0, 300)}`).toMatch(/^200 /);
      return (JSON.parse(res.text) as { rows: { t: string }[] }).rows[0]?.t ?? '';
    };
    await rollBackEverything();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(sessionSql, fc.option(queryParams, { nil: undefined })), { minLength: 1, maxLength: 4 }),
          async (queries) => {
            // Each run starts clean, so that what it finds was left behind by its own queries.
            await rollBackEverything();
            for (const [sql, params] of queries) {
              const req = { ...query(sql), body: JSON.stringify(params === undefined ? { sql } : { sql, params }) };
              expectContract(req, await send(req));
            }
            // The session still works, and is in no transaction: two requests see two different now().
            const first = await clock();
            await new Promise((resolve) => setTimeout(resolve, 5));
            const second = await clock();
            expect(
              second,
              'a later request saw the same now(): a transaction was left open on the pooled session',
            ).not.toBe(first);
          },
        ),
        { numRuns: 40 },
      );
    } finally {
      await rollBackEverything();
    }
  });

  it('runs a workflow with any params and returns them, unmasked when revealing', async () => {
    // A top-level "__proto__" param is dropped by the body schema; nested ones are plain keys all the way.
    const nested = fc
      .constantFrom(
        '{"__proto__": {"polluted": true}}',
        '{"constructor": {"prototype": {"polluted": 1}}}',
        '[{"__proto__": null}]',
      )
      .map((text) => JSON.parse(text) as unknown);
    const param = fc.dictionary(
      oddString.filter((k) => k !== '__proto__'),
      fc.oneof(fc.jsonValue({ maxDepth: 3 }), nested),
      { maxKeys: 5 },
    );
    await fc.assert(
      fc.asyncProperty(param, async (params) => {
        const body = JSON.stringify({ params, reveal: true });
        const req = {
          method: 'POST',
          path: '/api/v1/workflows/echo/run',
          headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
          body,
        };
        const res = await send(req);
        expectContract(req, res);
        expect(res.status, res.text.slice(0, 300)).toBe(200);
        const preview = JSON.parse(res.text) as { response: unknown; masked: boolean };
        expect(preview.masked).toBe(false);
        expect(preview.response).toEqual(
          JSON.parse(JSON.stringify({ greeting: 'hi', ...(JSON.parse(JSON.stringify(params)) as object) })),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('answers queries within the contract whatever the secret store returns (odd Unicode, wrong types, missing fields, non-JSON)', async () => {
    let serial = 0;
    // Values under secret-named keys carry a unique marker (the leak search looks for them); lone
    // surrogates go under `pw` only, which the leak search does not read.
    const marked = (text: string) =>
      `Zq${(serial += 1)}x${Math.random().toString(36).slice(2, 10)}${text.replace(/[\uD800-\uDFFF]/g, '')}`;
    const oddValue = fc.oneof(
      oddString,
      fc.constantFrom(
        '\uD800',
        'pw-\uDFFF-x',
        '\uDC00\uD800',
        'p@ss:w/rd?#%',
        '',
        ' ',
        '\u0000',
        'postgres://u:p@h/db',
      ),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant([]),
      fc.constant({ nested: '\uD800' }),
    );
    const secret = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          pw: fc.oneof(oddValue, fc.constantFrom('\uD800', 'pw-\uDFFF-x', '\uDC00\uD800')),
          password: oddString,
          drop: fc.oneof(
            { weight: 5, arbitrary: fc.constant<string[]>([]) },
            fc.subarray(['host', 'port', 'username', 'dbname'], { minLength: 1 }),
          ),
          port: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, oddValue),
        }),
      },
      fc.constantFrom('not json at all {', '[]', '"a string secret"', 'null', '{"host": 1}'),
    );
    try {
      await fc.assert(
        fc.asyncProperty(secret, async (choice) => {
          let text: string;
          if (typeof choice === 'string') {
            text = choice.length >= 6 ? `${choice} ${marked('')}` : choice;
          } else {
            const base = JSON.parse(realSecret()) as Record<string, unknown>;
            for (const key of choice.drop) delete base[key];
            if (choice.port !== undefined) base.port = choice.port;
            text = JSON.stringify({ ...base, password: marked(choice.password), pw: choice.pw });
          }
          t.secrets.putSecretValue('propSecrets', { SecretString: text });
          const headers = { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' };
          for (const name of [INTEGRATION, ODD_INTEGRATION]) {
            const invalidate = { method: 'POST', path: `/api/v1/integrations/${name}/invalidate`, headers, body: '{}' };
            expectContract(invalidate, await send(invalidate));
            for (const route of ['query', 'test']) {
              const req = {
                method: 'POST',
                path: `/api/v1/integrations/${name}/${route}`,
                headers,
                body: route === 'query' ? '{"sql":"SELECT 1 AS one"}' : '{}',
              };
              expectContract(req, await send(req));
            }
          }
        }),
        // Each run fetches credentials afresh (several round trips): the search is cut off after 6 s.
        { numRuns: 25, interruptAfterTimeLimit: 6_000 },
      );
    } finally {
      t.secrets.putSecretValue('propSecrets', { SecretString: realSecret() });
      const headers = { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' };
      for (const name of [INTEGRATION, ODD_INTEGRATION])
        await send({ method: 'POST', path: `/api/v1/integrations/${name}/invalidate`, headers, body: '{}' });
    }
  });

  it('answers raw paths with ../ segments, absolute-form targets and Latin-1 bytes within the contract', async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        '..',
        '.',
        '',
        '%2e%2e',
        '..%2F',
        '%00',
        INTEGRATION,
        'getSecrets',
        'echo',
        'api',
        'v1',
        'integrations',
        'workflows',
        'query',
        'run',
        'status',
        '\u00e9',
        '\u00ff',
        '*',
      ),
      fc.stringMatching(/^[A-Za-z0-9_.~-]{1,12}$/),
    );
    const rawPath = fc.oneof(
      fc.array(segment, { minLength: 1, maxLength: 7 }).map((parts) => `/${parts.join('/')}`),
      fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => `/api/v1/${parts.join('/')}`),
      fc.constantFrom(
        '/api/v1/integrations/../workflows',
        '/api/v1/integrations/../../healthz',
        `/api/v1/integrations/${INTEGRATION}/../../workflows/echo`,
        '//api//v1//integrations',
        '/api/v1/./integrations',
        '/../../../../etc/passwd',
        '/api/v1/integrations/..%2F..%2F..%2Fetc%2Fpasswd/status',
        `http://127.0.0.1/api/v1/integrations/${INTEGRATION}`,
        'http://evil.example/healthz',
        '*',
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'OPTIONS', 'DELETE'),
        rawPath,
        fc.boolean(),
        async (method, rawTarget, withToken) => {
          const headers: Record<string, string> = withToken ? { authorization: `Bearer ${t.token}` } : {};
          const res = await sendRaw(method, rawTarget, headers);
          // Node itself answers a request line it cannot parse (400, no body); everything else is express.
          if (res.status === 400 && res.text === '') return;
          expectContract({ method, path: rawTarget }, res);
        },
      ),
      { numRuns: 120 },
    );
    await expectHealthy();
  });

  it('refuses oversized URLs and headers with a 4xx and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes, ...unknownRoutes),
        fc.integer({ min: 17_000, max: 80_000 }),
        fc.constantFrom('path', 'query', 'header'),
        async (route, size, where) => {
          const headers: Record<string, string> = { authorization: `Bearer ${t.token}` };
          const named = route.path('\u0001').includes('\u0001');
          let path = route.path(INTEGRATION);
          if (where === 'path' && named) path = route.path('a'.repeat(size));
          else if (where === 'query' || where === 'path') path += `?profile=${'a'.repeat(size)}`;
          else headers['x-filler'] = 'a'.repeat(size);
          const method = route.method === 'HEAD' || route.method === 'GET' ? route.method : 'POST';
          const res = await send({ method, path, headers });
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          await expectHealthy();
        },
      ),
      { numRuns: 10 },
    );
  });

  it('answers bodies with huge and URL-like unknown field names quickly: 4xx within 2 s, never a stuck agent', async () => {
    // Connection strings are what this agent handles: field names and values shaped like them.
    const chunk = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('a', 'x1', 'ab-', 'z.', 'B9') },
      fc.constantFrom('😀', 'postgres://u:p@h/', ' ', '%41'),
      oddString.filter((s) => s.length > 0),
    );
    const hugeKey = fc
      .tuple(chunk, fc.integer({ min: 1_000, max: 60_000 }), fc.constantFrom('://', 'postgres://', '://u:p@h', '', ':'))
      .map(([c, n, tail]) => `${c.repeat(Math.ceil(n / c.length)).slice(0, n)}${tail}`);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes.filter((r) => r.body)),
        fc.array(fc.oneof(hugeKey, fc.constantFrom('postgres://user:pw@host/db', 'x://y', 'sql2')), {
          minLength: 1,
          maxLength: 3,
        }),
        async (route, keys) => {
          // Each run starts on an idle agent, so that its time is its own (and shrinking is not misled).
          await expectHealthy(60_000);
          const body: Record<string, unknown> = {};
          for (const key of keys)
            Object.defineProperty(body, key, { value: 1, enumerable: true, writable: true, configurable: true });
          const text = JSON.stringify(body);
          const req = {
            method: 'POST',
            path: route.path(route.path('x').includes('/workflows/') ? 'echo' : INTEGRATION),
            headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
            body: text,
          };
          const res = await send(req, 5_000);
          expectContract(req, res);
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
        },
      ),
      // A stuck agent makes every shrinking step slow: the search is cut off after 15 s.
      { numRuns: 25, interruptAfterTimeLimit: 15_000 },
    );
  }, 90_000);
});

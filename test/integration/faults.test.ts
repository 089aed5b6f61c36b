import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/embedded/start-embedded-postgres.js';
import { postgresIntegration, secretsWorkflow } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createRoleAndDatabase, createTestDatabase, type TestDatabase } from '../support/test-database.js';

const rdsSecret = (db: TestDatabase, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password: db.password,
    dbname: db.dbname,
    ...extra,
  });

/** A postgres integration on the shared `getSecrets` workflow, reading its own secret, with cache knobs. */
const integration = (
  name: string,
  secretName: string,
  knobs: { cacheTtlSeconds?: number; maxStaleSeconds?: number } = {},
) => ({
  ...postgresIntegration(name, 'getSecrets'),
  fetchCredentialsDynamically: { enabled: true, workflow: 'getSecrets', params: { secretName }, ...knobs },
});

const countSql = { sql: 'SELECT count(*)::int AS n FROM widgets' };

/** Fails (instead of hanging the file) when `promise` does not settle within `ms`: a bound on a hang, not a performance check. */
async function settlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls `probe` until it returns a value, for at most `ms`; the last value (or undefined) otherwise. */
async function eventually<T>(
  probe: () => Promise<T | undefined>,
  ms: number,
  intervalMs = 100,
): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() >= deadline) return value;
    await sleep(intervalMs);
  }
}

/** Sequential queries for `ms`, a short pause between them; every response, in order. */
async function queryFor(t: TestAgent, name: string, ms: number) {
  const deadline = Date.now() + ms;
  const responses: { status: number; body: any }[] = [];
  while (Date.now() < deadline) {
    responses.push(await t.request('POST', `/api/v1/integrations/${name}/query`, countSql));
    await sleep(50);
  }
  return responses;
}

const logLines = (t: TestAgent) => t.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>);

/** A dedicated PostgreSQL (SCRAM) that this file stops and starts again on the same port and data. */
type RestartablePostgres = EmbeddedPostgresHandle;

/** A role with a password and a database with a `widgets` table of three rows, on the dedicated server. */
async function createDatabaseOn(server: RestartablePostgres): Promise<TestDatabase> {
  const db = await createRoleAndDatabase(
    server,
    'restart',
    `Rs-${randomBytes(9).toString('base64url')}&<>"'{}\\<<{{y}}`,
  );
  const owner = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.username,
    password: db.password,
    database: db.dbname,
  });
  await owner.connect();
  try {
    await owner.query(`CREATE TABLE widgets (id int PRIMARY KEY); INSERT INTO widgets VALUES (1), (2), (3);`);
  } finally {
    await owner.end();
  }
  return db;
}

describe('faults: a throttled, failing or unreachable Secrets Manager endpoint, and a restarted PostgreSQL', () => {
  let db: TestDatabase;
  let server: RestartablePostgres | undefined;
  let restartDb: TestDatabase;
  /** Default settings (maxStale 600 s); per-integration knobs. */
  let t: TestAgent;
  /** CREDFLOW_MAX_STALE_SECONDS=1 and CREDFLOW_STEP_TIMEOUT_MS=2000 for the whole agent. */
  let strict: TestAgent;

  beforeAll(async () => {
    let started: RestartablePostgres;
    [db, started] = await Promise.all([createTestDatabase('faults'), startEmbeddedPostgres()]);
    server = started;
    restartDb = await createDatabaseOn(started);
    const secretNames = [
      'coldThrottled',
      'coldFailing',
      'warmThrottled',
      'warmDown',
      'pastStale',
      'coldDown',
      'coldBurst',
      'slow',
      'restartable',
      'healthy',
    ];
    t = await startTestAgent({
      workflows: { getSecrets: secretsWorkflow('getSecrets', 'healthy') },
      integrations: {
        'cold-throttled': integration('cold-throttled', 'coldThrottled'),
        'cold-failing': integration('cold-failing', 'coldFailing'),
        // Its secret says ttlSeconds: 1, which caps the default TTL of 300 s.
        'warm-throttled': integration('warm-throttled', 'warmThrottled'),
        'warm-down': integration('warm-down', 'warmDown', { cacheTtlSeconds: 1, maxStaleSeconds: 30 }),
        'past-stale': integration('past-stale', 'pastStale', { cacheTtlSeconds: 1, maxStaleSeconds: 1 }),
        'cold-down': integration('cold-down', 'coldDown'),
        'cold-burst': integration('cold-burst', 'coldBurst'),
        slow: integration('slow', 'slow'),
        restartable: integration('restartable', 'restartable'),
        healthy: integration('healthy', 'healthy'),
      },
    });
    for (const name of secretNames) {
      const target = name === 'restartable' ? restartDb : db;
      t.secrets.createSecret(name, {
        SecretString: rdsSecret(target, name === 'warmThrottled' ? { ttlSeconds: 1 } : {}),
      });
    }
    strict = await startTestAgent(
      {
        workflows: { getSecrets: secretsWorkflow('getSecrets', 'shortStale') },
        integrations: {
          'short-stale': integration('short-stale', 'shortStale', { cacheTtlSeconds: 1 }),
          hanging: integration('hanging', 'hanging'),
        },
      },
      { CREDFLOW_MAX_STALE_SECONDS: '1', CREDFLOW_STEP_TIMEOUT_MS: '2000' },
    );
    strict.secrets.createSecret('shortStale', { SecretString: rdsSecret(db) });
    strict.secrets.createSecret('hanging', { SecretString: rdsSecret(db) });
  });

  afterEach(() => {
    t?.secrets.clearFaults();
    strict?.secrets.clearFaults();
  });

  afterAll(async () => {
    await t?.close();
    await strict?.close();
    await server?.stop();
  });

  /** How many `pg_sleep` statements the dedicated server is running. */
  const activeSleeps = async (): Promise<number> => {
    const admin = new pg.Client({
      host: server?.host,
      port: server?.port,
      user: server?.user,
      password: server?.password,
      database: 'postgres',
    });
    await admin.connect();
    try {
      const result = await admin.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'",
      );
      return result.rows[0]?.n ?? 0;
    } finally {
      await admin.end();
    }
  };
  const query = (agent: TestAgent, name: string) =>
    agent.request('POST', `/api/v1/integrations/${name}/query`, countSql);
  const requestsFor = (agent: TestAgent, secretId: string) =>
    agent.secrets.requests.filter((r) => r.operation === 'GetSecretValue' && r.secretId === secretId);

  describe('throttling and 5xx answers', () => {
    it('succeeds on a cold cache through the SDK retrying two throttled answers', async () => {
      t.secrets.setFaults({ throttle: 2, operations: ['GetSecretValue'] });
      const res = await query(t, 'cold-throttled');
      expect(res.body.error).toBeUndefined();
      expect(res.status).toBe(200);
      expect(res.body.rows).toEqual([{ n: 3 }]);
      const seen = requestsFor(t, 'coldThrottled');
      expect(seen.map((r) => r.status)).toEqual([400, 400, 200]);
      expect(seen.slice(0, 2).map((r) => r.errorType)).toEqual(['ThrottlingException', 'ThrottlingException']);
    });

    it('succeeds on a cold cache through the SDK retrying two 500 answers', async () => {
      t.secrets.setFaults({ serverError: 2, operations: ['GetSecretValue'] });
      const res = await query(t, 'cold-failing');
      expect(res.status).toBe(200);
      expect(res.body.rows).toEqual([{ n: 3 }]);
      const seen = requestsFor(t, 'coldFailing');
      expect(seen.map((r) => r.status)).toEqual([500, 500, 200]);
      expect(seen[0]?.errorType).toBe('InternalServiceError');
    });

    it('keeps serving the last good credentials past their expiry while every refresh is throttled, and recovers once it is not', async () => {
      const warm = await query(t, 'warm-throttled');
      expect(warm.status).toBe(200);
      t.secrets.setFaults({ throttle: Infinity, operations: ['GetSecretValue'] });
      const faultsFrom = Date.now();

      // The secret's ttlSeconds: 1 expires the entry during the stream.
      const stream = await queryFor(t, 'warm-throttled', 2_500);
      expect(stream.length).toBeGreaterThan(1);
      expect(stream.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
      expect(requestsFor(t, 'warmThrottled').filter((r) => r.status === 400).length).toBeGreaterThan(0);

      // A request waits at most a second for a refresh; the throttled one (with the SDK's retries)
      // may still be running when the stream ends, so wait (bounded) until it has failed.
      let status = await t.request('GET', '/api/v1/integrations/warm-throttled/status');
      for (let i = 0; i < 100 && !status.body.lastRefreshError; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        status = await t.request('GET', '/api/v1/integrations/warm-throttled/status');
      }
      expect(status.status).toBe(200);
      expect(status.body.cached).toBe(true);
      expect(Date.parse(status.body.expiresAt)).toBeLessThan(Date.now());
      expect(status.body.lastRefreshError.message).toMatch(/ThrottlingException|Rate exceeded/);
      expect(status.body.lastRefreshError.message).toContain('"fetch"');
      expect(Date.parse(status.body.failingSince)).toBeGreaterThanOrEqual(faultsFrom - 1);

      const warnings = logLines(t).filter((l) => l.event === 'credentials.refresh' && l.outcome === 'error');
      expect(warnings.length).toBeGreaterThan(0);
      expect(warnings.every((l) => l.level === 40)).toBe(true);
      expect(
        warnings.some(
          (l) => String(l.error).includes('Rate exceeded') || String(l.error).includes('ThrottlingException'),
        ),
      ).toBe(true);

      t.secrets.clearFaults();
      const clearedAt = Date.now();
      // Refreshing backs off (1 s, 2 s, ...); queries keep using the integration until one refresh succeeds.
      const recovered = await eventually(
        async () => {
          const res = await query(t, 'warm-throttled');
          expect(res.status).toBe(200);
          const now = await t.request('GET', '/api/v1/integrations/warm-throttled/status');
          return now.body.lastRefreshError === undefined ? now.body : undefined;
        },
        15_000,
        200,
      );
      expect(recovered, 'a refresh succeeded after the faults were cleared').toBeDefined();
      expect(recovered.failingSince).toBeUndefined();
      expect(recovered.cached).toBe(true);
      expect(Date.parse(recovered.fetchedAt)).toBeGreaterThanOrEqual(clearedAt);
      expect(requestsFor(t, 'warmThrottled').at(-1)?.status).toBe(200);
    });
  });

  describe('the endpoint is down', () => {
    it('fails no query within maxStaleSeconds when the cache is warm', async () => {
      expect((await query(t, 'warm-down')).status).toBe(200);
      t.secrets.setFaults({ down: true });
      const stream = await queryFor(t, 'warm-down', 2_500);
      expect(stream.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
      expect(stream.every((r) => r.body.rows?.[0]?.n === 3)).toBe(true);
      // It did try to refresh (connections dropped) and served the old value meanwhile.
      expect(requestsFor(t, 'warmDown').filter((r) => r.status === 0).length).toBeGreaterThan(0);
      expect(
        logLines(t).some(
          (l) => l.event === 'credentials.resolve' && l.integration === 'warm-down' && l.cache === 'stale',
        ),
      ).toBe(true);
      const status = await t.request('GET', '/api/v1/integrations/warm-down/status');
      expect(status.body.lastRefreshError).toBeDefined();
      expect(status.body.failingSince).toBeDefined();
    });

    describe('past maxStaleSeconds', () => {
      let downFrom: number;

      // TTL 1 s + maxStale 1 s: warmed, then more than 2 s with the endpoint down, nothing may be served.
      beforeAll(async () => {
        expect((await query(strict, 'short-stale')).status).toBe(200);
        expect((await query(t, 'past-stale')).status).toBe(200);
        strict.secrets.setFaults({ down: true });
        t.secrets.setFaults({ down: true });
        downFrom = Date.now();
        await sleep(2_500);
      });

      it('answers 503 CREDENTIALS_UNAVAILABLE, saying since when, once the value is more than CREDFLOW_MAX_STALE_SECONDS past expiry', async () => {
        strict.secrets.setFaults({ down: true });
        const res = await query(strict, 'short-stale');
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('CREDENTIALS_UNAVAILABLE');
        expect(res.body.error.message).toMatch(/could not be refreshed since \d{4}-\d\d-\d\dT[\d:.]+Z/);
        const since = /since (\d{4}-\d\d-\d\dT[\d:.]+Z)/.exec(res.body.error.message)?.[1] ?? '';
        expect(Date.parse(since)).toBeGreaterThanOrEqual(downFrom);
        expect(res.body.error.details.failingSince).toBe(since);
        const status = await strict.request('GET', '/api/v1/integrations/short-stale/status');
        expect(status.body.failingSince).toBe(since);
        expect(res.text).not.toContain(db.password);
      });

      it('keeps answering 503 at once, honouring the refresh backoff instead of running the workflow for every request', async () => {
        strict.secrets.setFaults({ down: true });
        expect((await query(strict, 'short-stale')).status, 'precondition: past maxStale').toBe(503);
        const requestsBefore = requestsFor(strict, 'shortStale').length;
        const runs = () =>
          logLines(strict).filter((l) => l.event === 'workflow.run' && l.integration === 'short-stale').length;
        const runsBefore = runs();
        for (let i = 0; i < 5; i += 1) {
          const res = await query(strict, 'short-stale');
          expect(res.status).toBe(503);
          expect(res.body.error.code).toBe('CREDENTIALS_UNAVAILABLE');
        }
        // The last attempt failed a moment ago and the next is due 1 s (or more) later, as for a cold key.
        expect(runs() - runsBefore, 'workflow runs for 5 requests within the backoff').toBeLessThanOrEqual(1);
        expect(
          requestsFor(strict, 'shortStale').length - requestsBefore,
          'endpoint requests for 5 requests within the backoff',
        ).toBeLessThanOrEqual(3);
      });

      it("answers 503 CREDENTIALS_UNAVAILABLE once the value is more than the integration's own maxStaleSeconds past expiry", async () => {
        // past-stale sets maxStaleSeconds: 1 in its integration file; the agent's default is 600 s.
        t.secrets.setFaults({ down: true });
        const res = await query(t, 'past-stale');
        expect(res.body.error?.code, 'served credentials 1.5 s past maxStaleSeconds: 1').toBe(
          'CREDENTIALS_UNAVAILABLE',
        );
        expect(res.status).toBe(503);
        expect(res.body.error.message).toMatch(/could not be refreshed since \d{4}-\d\d-\d\dT[\d:.]+Z/);
        const status = await t.request('GET', '/api/v1/integrations/past-stale/status');
        expect(Date.parse(status.body.staleUntil) - Date.parse(status.body.expiresAt)).toBe(1_000);
      });
    });

    it('fails a cold query with a clear workflow error naming the step and the network error, within a bounded time', async () => {
      t.secrets.setFaults({ down: true });
      const res = await settlesWithin(query(t, 'cold-down'), 20_000, 'a cold query with the endpoint down');
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe('WORKFLOW_FAILED');
      expect(res.body.error.details).toMatchObject({ workflow: 'getSecrets', step: 'fetch' });
      expect(res.body.error.message).toContain('"fetch"');
      expect(res.body.error.message).toMatch(/ECONNRESET|socket hang up/i);
      expect(requestsFor(t, 'coldDown').length).toBeGreaterThan(0);
      expect(requestsFor(t, 'coldDown').every((r) => r.status === 0)).toBe(true);
    });

    it('settles 50 concurrent cold queries with an error and no pile-up of connection attempts', async () => {
      t.secrets.setFaults({ down: true });
      const all = await settlesWithin(
        Promise.all(Array.from({ length: 50 }, () => query(t, 'cold-burst'))),
        20_000,
        '50 concurrent cold queries with the endpoint down',
      );
      expect(all.map((r) => r.status)).toEqual(Array(50).fill(502));
      expect(new Set(all.map((r) => r.body.error.code))).toEqual(new Set(['WORKFLOW_FAILED']));
      const attempts = requestsFor(t, 'coldBurst');
      expect(attempts.every((r) => r.status === 0)).toBe(true);
      // One shared workflow run (the SDK makes up to 3 attempts); callers arriving after it failed fail fast.
      expect(attempts.length).toBeGreaterThan(0);
      expect(attempts.length).toBeLessThanOrEqual(6);
      const runs = logLines(t).filter((l) => l.event === 'workflow.run' && l.integration === 'cold-burst');
      expect(runs.length).toBeGreaterThan(0);
      expect(runs.length).toBeLessThanOrEqual(2);
    });

    it('settles 50 concurrent cold queries at an endpoint that never answers with one clear timeout from one workflow run', async () => {
      // The endpoint accepts and holds every request; the step's time limit (2 s on this agent) ends the run.
      strict.secrets.setFaults({ latencyMs: 60_000 });
      const all = await settlesWithin(
        Promise.all(Array.from({ length: 50 }, () => query(strict, 'hanging'))),
        20_000,
        '50 concurrent cold queries at a hanging endpoint',
      );
      expect(all.map((r) => r.status)).toEqual(Array(50).fill(504));
      const error = all[0]?.body.error;
      expect(error.code).toBe('WORKFLOW_TIMEOUT');
      expect(error.message).toContain('"fetch"');
      expect(error.message).toContain('2000 ms');
      expect(logLines(strict).filter((l) => l.event === 'workflow.run' && l.integration === 'hanging')).toHaveLength(1);
    });

    it('still succeeds on a cold cache when every answer is delayed by 300 ms', async () => {
      t.secrets.setFaults({ latencyMs: 300 });
      const res = await settlesWithin(query(t, 'slow'), 20_000, 'a query with a slow endpoint');
      expect(res.status).toBe(200);
      expect(res.body.rows).toEqual([{ n: 3 }]);
      expect(requestsFor(t, 'slow').map((r) => r.status)).toEqual([200]);
    });
  });

  describe('PostgreSQL is restarted', () => {
    it('fails queries plainly while PostgreSQL is down and succeeds again once it is back, without restarting the agent', async () => {
      const first = await query(t, 'restartable');
      expect(first.body.error).toBeUndefined();
      expect(first.body.rows).toEqual([{ n: 3 }]);

      await server?.pause();
      for (let i = 0; i < 3; i += 1) {
        const res = await settlesWithin(query(t, 'restartable'), 20_000, 'a query with PostgreSQL down');
        expect(res.status).toBe(502);
        expect(res.body.error.code).toBe('DB_CONNECT_FAILED');
        expect(res.body.error.message).toMatch(/integration "restartable": could not connect to the database/);
        expect(res.text).not.toContain(restartDb.password);
        expect(res.text).not.toContain(JSON.stringify(restartDb.password).slice(1, -1));
      }

      await server?.resume();
      const back = await eventually(
        async () => {
          const res = await query(t, 'restartable');
          return res.status === 200 ? res : undefined;
        },
        15_000,
        200,
      );
      expect(back?.body.rows, 'a query succeeded after PostgreSQL came back').toEqual([{ n: 3 }]);
      // No connection that died with the old server is handed out again.
      for (let i = 0; i < 10; i += 1) expect((await query(t, 'restartable')).status).toBe(200);
      const together = await Promise.all(Array.from({ length: 15 }, () => query(t, 'restartable')));
      expect(together.map((r) => r.status)).toEqual(Array(15).fill(200));
      // The credentials were not fetched again: the cached ones still hold.
      expect(requestsFor(t, 'restartable').filter((r) => r.status === 200)).toHaveLength(1);
    });

    it('answers queries cut off by the shutdown with a clear error, leaving no error unhandled (which would crash the agent)', async () => {
      const uncaught: unknown[] = [];
      const record = (error: unknown) => uncaught.push(error);
      process.on('uncaughtException', record);
      try {
        const running = Array.from({ length: 4 }, () =>
          t.request('POST', '/api/v1/integrations/restartable/query', { sql: 'SELECT pg_sleep(5) AS slept' }),
        );
        const sleeping = await eventually(
          async () => {
            const n = await activeSleeps();
            return n >= 4 ? n : undefined;
          },
          10_000,
          50,
        );
        expect(sleeping, 'the four queries are running').toBe(4);

        await server?.pause();
        const cut = await settlesWithin(Promise.all(running), 20_000, 'queries running when PostgreSQL stopped');
        for (const res of cut) {
          expect(res.status).toBe(502);
          expect(res.body.error.code).toBe('DB_CONNECT_FAILED');
          expect(res.body.error.message).toContain('integration "restartable"');
          expect(res.text).not.toContain(restartDb.password);
        }
        await sleep(100);
        expect(uncaught.map(String), 'errors nobody handled').toEqual([]);
      } finally {
        process.off('uncaughtException', record);
        await server?.resume();
      }
      const back = await eventually(
        async () => {
          const res = await query(t, 'restartable');
          return res.status === 200 ? res : undefined;
        },
        15_000,
        200,
      );
      expect(back?.body.rows).toEqual([{ n: 3 }]);
      for (let i = 0; i < 5; i += 1) expect((await query(t, 'restartable')).status).toBe(200);
    });
  });

  it('still answers /healthz and a normal query afterwards, and never logged or returned a database password', async () => {
    expect((await t.request('GET', '/healthz', undefined, null)).status).toBe(200);
    const res = await query(t, 'healthy');
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([{ n: 3 }]);
    for (const agent of [t, strict]) {
      const logs = agent.logs.text();
      expect(logs).toContain('credentials.resolve');
      for (const password of [db.password, restartDb.password]) {
        for (const form of [password, JSON.stringify(password).slice(1, -1), encodeURIComponent(password)]) {
          expect(logs).not.toContain(form);
          expect(agent.bodies.filter((b) => b.includes(form))).toEqual([]);
        }
      }
    }
  });
});

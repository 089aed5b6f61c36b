import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalSecretsManager } from '../support/local-secrets-manager/index.js';
import { postgresIntegration, secretsWorkflow, type ConfigFiles } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../support/test-database.js';

const bin = fileURLToPath(new URL('../../bin/credflow.js', import.meta.url));

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

const fetchCode = (extra = '') =>
  `const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName, region: params.region }); return { ...JSON.parse(r.SecretString)${extra} };`;

/** An integration over its own workflow and secret, so counts of one never include another's. */
function own(name: string, workflow: string, fetch: Record<string, unknown> = {}) {
  const base = postgresIntegration(name, workflow) as { fetchCredentialsDynamically: Record<string, unknown> };
  return { ...base, fetchCredentialsDynamically: { ...base.fetchCredentialsDynamically, ...fetch } };
}

const config: ConfigFiles = {
  workflows: {
    getSecrets: secretsWorkflow('getSecrets', 'postgresSecrets'),
    getBusy: secretsWorkflow('getBusy', 'busySecret'),
    getEveryTime: secretsWorkflow('getEveryTime', 'everySecret'),
    getShort: secretsWorkflow('getShort', 'shortSecret'),
    getExpiring: {
      name: 'getExpiring',
      params: { secretName: 'expiringSecret', region: 'us-east-1' },
      steps: [{ name: 'fetch', code: fetchCode(', expiresAt: new Date(Date.now() + 1500).toISOString()') }],
    },
    getRefreshing: secretsWorkflow('getRefreshing', 'refreshSecret'),
    getInvalidated: secretsWorkflow('getInvalidated', 'invalidateSecret'),
    getCliInvalidated: secretsWorkflow('getCliInvalidated', 'cliSecret'),
    getStaleBound: secretsWorkflow('getStaleBound', 'staleBoundSecret'),
    getWrong: secretsWorkflow('getWrong', 'wrongSecret'),
    getDotted: secretsWorkflow('getDotted', 'dottedSecret'),
    getProfiled: {
      name: 'getProfiled',
      params: { secretName: 'prodSecret', region: 'us-east-1' },
      steps: [{ name: 'fetch', code: fetchCode(', profile: context.profile') }],
    },
  },
  integrations: {
    cached: own('cached', 'getSecrets'),
    busy: own('busy', 'getBusy'),
    uncached: own('uncached', 'getEveryTime', { cacheTtlSeconds: 0 }),
    'short-ttl': own('short-ttl', 'getShort'),
    expiring: own('expiring', 'getExpiring'),
    refreshing: own('refreshing', 'getRefreshing'),
    invalidated: own('invalidated', 'getInvalidated'),
    'cli-invalidated': own('cli-invalidated', 'getCliInvalidated'),
    'stale-bound': own('stale-bound', 'getStaleBound', { maxStaleSeconds: 5 }),
    'wrong-password': own('wrong-password', 'getWrong'),
    'dotted-key': {
      ...own('dotted-key', 'getDotted'),
      connection: {
        host: '<<getDotted.response.[db.host]>>',
        port: '<<getDotted.response.port>>',
        database: '<<getDotted.response.dbname>>',
        user: '<<getDotted.response.username>>',
        password: '<<getDotted.response.password>>',
      },
    },
    profiled: own('profiled', 'getProfiled', {
      profiles: {
        staging: { params: { secretName: 'stagingSecret' } },
        production: { params: { secretName: 'prodSecret' } },
      },
    }),
  },
};

interface ResolveLine {
  event: string;
  integration: string;
  workflow?: string;
  profile: string;
  cache?: string;
  outcome: string;
  durationMs: number;
}

const logLines = (agent: TestAgent): Record<string, unknown>[] =>
  agent.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>);

const resolutions = (agent: TestAgent, integration: string): ResolveLine[] =>
  logLines(agent).filter(
    (l) => l.event === 'credentials.resolve' && l.integration === integration,
  ) as unknown as ResolveLine[];

const fetchesOf = (secrets: LocalSecretsManager, secretId: string) =>
  secrets.requests.filter((r) => r.operation === 'GetSecretValue' && r.secretId === secretId).length;

/** Sums the samples of a Prometheus metric whose labels include `labels`. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) sum += Number(match[3]);
  }
  return sum;
}

/** A password can leak raw, JSON-escaped (in a JSON body or log line) or URL-encoded. */
const leakFormsOf = (password: string) => [
  password,
  JSON.stringify(password).slice(1, -1),
  encodeURIComponent(password),
];

interface CliRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (dist/) in another process, with no credflow settings in its environment. */
function runCli(args: string[], cwd: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', bin, ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ args, code, stdout, stderr }));
  });
}

/** Polls `check` until it holds, up to `tries` times; returns whether it did. */
async function eventually(check: () => Promise<boolean> | boolean, tries = 100, everyMs = 50): Promise<boolean> {
  for (let i = 0; i < tries; i += 1) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

/** Waits until the wall clock is past an ISO time (plus a margin for the agent's clock reading). */
async function waitUntilPast(iso: string): Promise<void> {
  const at = Date.parse(iso);
  await eventually(() => Date.now() > at + 50, 200, 25);
}

describe('credential lifecycle: caching, refresh, invalidation, profiles and metrics', () => {
  let db: TestDatabase;
  let staging: TestDatabase;
  let production: TestDatabase;
  let t: TestAgent;
  const wrongPassword = 'Rotated-away&<>"\'{}-9f86d081884c';
  const cliRuns: CliRun[] = [];

  const seed = (secrets: LocalSecretsManager) => {
    secrets.createSecret('postgresSecrets', rdsSecret(db, { note: 'not needed' }));
    secrets.createSecret('busySecret', rdsSecret(db));
    secrets.createSecret('everySecret', rdsSecret(db));
    secrets.createSecret('shortSecret', rdsSecret(db, { ttlSeconds: 1 }));
    secrets.createSecret('expiringSecret', rdsSecret(db));
    secrets.createSecret('refreshSecret', rdsSecret(db, { ttlSeconds: 2 }));
    secrets.createSecret('invalidateSecret', rdsSecret(db));
    secrets.createSecret('cliSecret', rdsSecret(db));
    secrets.createSecret('staleBoundSecret', rdsSecret(db));
    secrets.createSecret('wrongSecret', rdsSecret(db, { password: wrongPassword }));
    secrets.createSecret(
      'dottedSecret',
      rdsSecret(db, { host: undefined, 'db.host': db.host, db: { host: 'no-such-host.invalid' } }),
    );
    secrets.createSecret('stagingSecret', rdsSecret(staging));
    secrets.createSecret('prodSecret', rdsSecret(production));
  };

  const query = (integration: string, sql: string, profile?: string, agent: TestAgent = t) =>
    agent.request('POST', `/api/v1/integrations/${integration}/query${profile ? `?profile=${profile}` : ''}`, { sql });

  const status = async (integration: string, profile?: string) => {
    const res = await t.request(
      'GET',
      `/api/v1/integrations/${integration}/status${profile ? `?profile=${profile}` : ''}`,
    );
    expect(res.status).toBe(200);
    return res;
  };

  const scrape = async () => {
    const res = await t.request('GET', '/metrics');
    expect(res.status).toBe(200);
    return res.text;
  };

  beforeAll(async () => {
    [db, staging, production] = await Promise.all([
      createTestDatabase('life'),
      createTestDatabase('stg'),
      createTestDatabase('prd'),
    ]);
    t = await startTestAgent(config, { CREDFLOW_CACHE_TTL_SECONDS: '300', CREDFLOW_MAX_STALE_SECONDS: '600' });
    seed(t.secrets);
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('caching', () => {
    it('runs the workflow once for repeated queries, and logs a cache miss and then hits', async () => {
      for (let i = 0; i < 5; i += 1) {
        const res = await query('cached', 'SELECT count(*)::int AS n FROM widgets');
        expect(res.status).toBe(200);
        expect(res.body.rows).toEqual([{ n: 3 }]);
      }
      expect(fetchesOf(t.secrets, 'postgresSecrets')).toBe(1);
      const lines = resolutions(t, 'cached');
      expect(lines.map((l) => l.cache)).toEqual(['miss', 'hit', 'hit', 'hit', 'hit']);
      for (const line of lines) {
        expect(line).toMatchObject({ workflow: 'getSecrets', profile: 'default', outcome: 'ok' });
        expect(typeof line.durationMs).toBe('number');
      }
    });

    it('runs one workflow and builds one pool for 200 concurrent queries on a cold integration', async () => {
      const results = await Promise.all(Array.from({ length: 200 }, () => query('busy', 'SELECT 1 AS one')));
      expect(results.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
      expect(fetchesOf(t.secrets, 'busySecret')).toBe(1);
      expect(metric(await scrape(), 'credflow_workflow_run_duration_seconds_count', { workflow: 'getBusy' })).toBe(1);
      expect(logLines(t).filter((l) => l.event === 'pool.create' && l.integration === 'busy')).toHaveLength(1);
      expect(resolutions(t, 'busy')).toHaveLength(200);
    });

    it('runs the workflow for every query when cacheTtlSeconds is 0', async () => {
      for (let i = 0; i < 3; i += 1) expect((await query('uncached', 'SELECT 1 AS one')).status).toBe(200);
      expect(fetchesOf(t.secrets, 'everySecret')).toBe(3);
      expect(resolutions(t, 'uncached').map((l) => l.cache)).toEqual(['miss', 'miss', 'miss']);
      expect((await status('uncached')).body.cached).toBe(false);
    });

    it('expires a response carrying ttlSeconds: 1 sooner than the configured TTL, then fetches again', async () => {
      expect((await query('short-ttl', 'SELECT 1 AS one')).status).toBe(200);
      const { body } = await status('short-ttl');
      expect(body.cached).toBe(true);
      expect(Date.parse(body.expiresAt) - Date.parse(body.fetchedAt)).toBe(1000);
      expect(Date.parse(body.staleUntil) - Date.parse(body.expiresAt)).toBe(600_000);

      await waitUntilPast(body.expiresAt);
      expect((await query('short-ttl', 'SELECT 1 AS one')).status).toBe(200);
      expect(fetchesOf(t.secrets, 'shortSecret')).toBe(2);
      expect(resolutions(t, 'short-ttl').map((l) => l.cache)).toEqual(['miss', 'refresh']);
    });

    it('expires a response carrying an expiresAt 1.5 s ahead at that time, then fetches again', async () => {
      expect((await query('expiring', 'SELECT 1 AS one')).status).toBe(200);
      const { body } = await status('expiring');
      const lifetime = Date.parse(body.expiresAt) - Date.parse(body.fetchedAt);
      expect(lifetime).toBeGreaterThan(0);
      expect(lifetime).toBeLessThanOrEqual(1500);

      await waitUntilPast(body.expiresAt);
      expect((await query('expiring', 'SELECT 1 AS one')).status).toBe(200);
      expect(fetchesOf(t.secrets, 'expiringSecret')).toBe(2);
    });

    it('refreshes ahead of expiry in the background, so a steady stream of queries never waits for a workflow run once warm', async () => {
      const started = Date.now();
      const statuses: number[] = [];
      while (Date.now() - started < 3_000) {
        statuses.push((await query('refreshing', 'SELECT 1 AS one')).status);
        await sleep(25);
      }
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(fetchesOf(t.secrets, 'refreshSecret')).toBeGreaterThan(1);
      expect(
        metric(await scrape(), 'credflow_credential_refreshes_total', {
          workflow: 'getRefreshing',
          mode: 'background',
          outcome: 'ok',
        }),
      ).toBeGreaterThanOrEqual(1);
      const caches = resolutions(t, 'refreshing').map((l) => l.cache);
      expect(caches.length).toBe(statuses.length);
      expect(caches[0]).toBe('miss');
      expect(caches.slice(1).filter((c) => c !== 'hit')).toEqual([]);
      // The refreshed response holds the same credentials, so the pool built on them stays.
      expect(logLines(t).filter((l) => l.event === 'pool.create' && l.integration === 'refreshing')).toHaveLength(1);
    });

    it('answers with a cached response pruned to what the connection needs, and shows none of it in status', async () => {
      expect((await query('cached', 'SELECT 1 AS one')).status).toBe(200);
      const res = await status('cached');
      const known = [
        'integration',
        'profile',
        'workflow',
        'cached',
        'refreshing',
        'fetchedAt',
        'ageSeconds',
        'expiresAt',
        'staleUntil',
        'lastRefreshError',
        'failingSince',
        'rotationPendingSince',
        'stores',
        'pools',
      ];
      expect(Object.keys(res.body).filter((key) => !known.includes(key))).toEqual([]);
      expect(res.text).not.toContain('not needed');
      expect(res.text).not.toContain(db.username);
      for (const form of leakFormsOf(db.password)) expect(res.text).not.toContain(form);
    });

    it('still connects after pruning when a template reads a key that holds a dot', async () => {
      const res = await query('dotted-key', 'SELECT 1 AS one');
      expect(res.body.error).toBeUndefined();
      expect(res.status).toBe(200);
    });
  });

  describe('status', () => {
    it('reports whether a response is cached, its age, expiry, stale bound, last error and pools, never the password', async () => {
      const cold = await status('cli-invalidated');
      expect(cold.body).toMatchObject({
        integration: 'cli-invalidated',
        profile: 'default',
        workflow: 'getCliInvalidated',
        cached: false,
        refreshing: false,
        pools: { total: 0, idle: 0, waiting: 0 },
      });

      expect((await query('cached', 'SELECT 1 AS one')).status).toBe(200);
      const res = await status('cached');
      expect(res.body).toMatchObject({
        integration: 'cached',
        profile: 'default',
        workflow: 'getSecrets',
        cached: true,
        refreshing: false,
      });
      expect(res.body.ageSeconds).toBeGreaterThanOrEqual(0);
      expect(Date.parse(res.body.expiresAt) - Date.parse(res.body.fetchedAt)).toBe(300_000);
      expect(Date.parse(res.body.staleUntil) - Date.parse(res.body.expiresAt)).toBe(600_000);
      expect(res.body.lastRefreshError).toBeUndefined();
      expect(res.body.failingSince).toBeUndefined();
      expect(res.body.pools.total).toBeGreaterThanOrEqual(1);
      expect(res.body.pools.waiting).toBe(0);
      for (const form of leakFormsOf(db.password)) expect(res.text).not.toContain(form);
    });

    it("bounds staleness by the integration's own maxStaleSeconds", async () => {
      expect((await query('stale-bound', 'SELECT 1 AS one')).status).toBe(200);
      const { body } = await status('stale-bound');
      expect(Date.parse(body.staleUntil) - Date.parse(body.expiresAt)).toBe(5_000);
    });

    it('answers 404 for an unknown integration', async () => {
      const res = await t.request('GET', '/api/v1/integrations/nope/status');
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('INTEGRATION_NOT_FOUND');
    });
  });

  describe('invalidation', () => {
    it('drops the cached response and drains the pools, while a query already running finishes with 200', async () => {
      expect((await query('invalidated', 'SELECT 1 AS one')).status).toBe(200);
      expect(fetchesOf(t.secrets, 'invalidateSecret')).toBe(1);

      const slow = query('invalidated', 'SELECT pg_sleep(1) AS slept');
      const running = await eventually(() =>
        asSuperuser(async (c) => {
          const r = await c.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(1) AS slept' AND state = 'active'",
          );
          return (r.rows[0]?.n ?? 0) > 0;
        }),
      );
      expect(running).toBe(true);

      const invalidate = await t.request('POST', '/api/v1/integrations/invalidated/invalidate', {});
      expect(invalidate.status).toBe(200);
      expect(invalidate.body).toEqual({ integration: 'invalidated', droppedResponses: 1, drainedPools: 1 });
      const after = await status('invalidated');
      expect(after.body).toMatchObject({ cached: false, pools: { total: 0 } });

      const finished = await slow;
      expect(finished.status).toBe(200);
      expect(finished.body.rowCount).toBe(1);

      expect((await query('invalidated', 'SELECT 1 AS one')).status).toBe(200);
      expect(fetchesOf(t.secrets, 'invalidateSecret')).toBe(2);
      expect(resolutions(t, 'invalidated').map((l) => l.cache)).toEqual(['miss', 'hit', 'miss']);
      expect(
        logLines(t).some(
          (l) => l.event === 'pool.retire' && l.integration === 'invalidated' && l.reason === 'invalidated',
        ),
      ).toBe(true);
    });

    it('does the same from another process with `credflow integrations invalidate`, and `integrations status` prints the fields', async () => {
      expect((await query('cli-invalidated', 'SELECT 1 AS one')).status).toBe(200);
      const remote = ['--url', t.url, '--token', t.token];

      const before = await runCli(['integrations', 'status', 'cli-invalidated', ...remote], t.dir);
      cliRuns.push(before);
      expect(before.stderr).toBe('');
      expect(before.code).toBe(0);
      for (const field of ['cached', 'ageSeconds', 'expiresAt', 'staleUntil', 'pools'])
        expect(before.stdout).toMatch(new RegExp(`^${field}\\s`, 'm'));
      expect(before.stdout).toMatch(/^cached\s+true$/m);

      const run = await runCli(['integrations', 'invalidate', 'cli-invalidated', ...remote], t.dir);
      cliRuns.push(run);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('ok: cli-invalidated: dropped 1 cached response(s), draining 1 pool(s)');
      expect((await status('cli-invalidated')).body).toMatchObject({ cached: false, pools: { total: 0 } });

      const json = await runCli(['--json', 'integrations', 'status', 'cli-invalidated', ...remote], t.dir);
      cliRuns.push(json);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ integration: 'cli-invalidated', cached: false });

      expect((await query('cli-invalidated', 'SELECT 1 AS one')).status).toBe(200);
      expect(fetchesOf(t.secrets, 'cliSecret')).toBe(2);
    });

    it('refuses the CLI without a valid token', async () => {
      const run = await runCli(
        ['integrations', 'invalidate', 'cli-invalidated', '--url', t.url, '--token', 'wrong-token'],
        t.dir,
      );
      cliRuns.push(run);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/UNAUTHORIZED|token/);
      expect((await status('cli-invalidated')).body.cached).toBe(true);
    });
  });

  describe('profiles', () => {
    it('connects each profile to its own database and fetches each profile once', async () => {
      for (let i = 0; i < 2; i += 1) {
        for (const [profile, target] of [
          ['staging', staging],
          ['production', production],
        ] as const) {
          const res = await query('profiled', 'SELECT current_database() AS db, current_user AS who', profile);
          expect(res.status).toBe(200);
          expect(res.body.rows).toEqual([{ db: target.dbname, who: target.username }]);
        }
      }
      expect(fetchesOf(t.secrets, 'stagingSecret')).toBe(1);
      expect(fetchesOf(t.secrets, 'prodSecret')).toBe(1);
      const lines = resolutions(t, 'profiled').map((l) => `${l.profile}:${l.cache}`);
      expect(lines).toEqual(['staging:miss', 'production:miss', 'staging:hit', 'production:hit']);
      expect((await status('profiled', 'staging')).body).toMatchObject({ profile: 'staging', cached: true });
      expect((await status('profiled', 'production')).body).toMatchObject({ profile: 'production', cached: true });
    });

    it('lets the workflow see context.profile', async () => {
      const res = await t.request('POST', '/api/v1/workflows/getProfiled/run?profile=staging', {
        params: { secretName: 'stagingSecret' },
      });
      expect(res.status).toBe(200);
      expect(res.body.response).toMatchObject({ profile: 'staging', dbname: staging.dbname, password: '********' });
      const production_ = await t.request('POST', '/api/v1/workflows/getProfiled/run?profile=production', {});
      expect(production_.body.response).toMatchObject({ profile: 'production', dbname: production.dbname });
      const runs = logLines(t).filter(
        (l) => l.event === 'workflow.run' && l.workflow === 'getProfiled' && l.integration === 'profiled',
      );
      expect(runs.map((l) => l.profile).sort()).toEqual(['production', 'staging']);
    });

    it('answers an unknown profile with 404 PROFILE_NOT_FOUND naming the integration and its profiles', async () => {
      const runsBefore = fetchesOf(t.secrets, 'stagingSecret') + fetchesOf(t.secrets, 'prodSecret');
      for (const res of [
        await query('profiled', 'SELECT 1', 'qa'),
        await query('profiled', 'SELECT 1'),
        await t.request('GET', '/api/v1/integrations/profiled/status?profile=qa'),
      ]) {
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('PROFILE_NOT_FOUND');
        expect(res.body.error.message).toContain('"profiled"');
        expect(res.body.error.message).toContain('staging, production');
      }
      expect(fetchesOf(t.secrets, 'stagingSecret') + fetchesOf(t.secrets, 'prodSecret')).toBe(runsBefore);
      const bad = await query('profiled', 'SELECT 1', '..%2Fetc');
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('BAD_REQUEST');
    });

    it('invalidates the cached responses of every profile', async () => {
      const res = await t.request('POST', '/api/v1/integrations/profiled/invalidate', {});
      expect(res.body).toEqual({ integration: 'profiled', droppedResponses: 2, drainedPools: 2 });
      expect((await status('profiled', 'staging')).body.cached).toBe(false);
      expect((await status('profiled', 'production')).body.cached).toBe(false);
    });

    it('uses CREDFLOW_DEFAULT_PROFILE when a request names no profile', async () => {
      const other = await startTestAgent(config, { CREDFLOW_DEFAULT_PROFILE: 'staging' });
      try {
        seed(other.secrets);
        const res = await query('profiled', 'SELECT current_database() AS db', undefined, other);
        expect(res.status).toBe(200);
        expect(res.body.rows).toEqual([{ db: staging.dbname }]);
        expect(fetchesOf(other.secrets, 'stagingSecret')).toBe(1);
        expect(fetchesOf(other.secrets, 'prodSecret')).toBe(0);
        const current = await other.request('GET', '/api/v1/integrations/profiled/status');
        expect(current.body).toMatchObject({ profile: 'staging', cached: true });
        const preview = await other.request('POST', '/api/v1/workflows/getProfiled/run', {});
        expect(preview.body.response.profile).toBe('staging');
        for (const form of [staging.password, production.password].flatMap(leakFormsOf)) {
          expect(other.logs.text()).not.toContain(form);
          for (const body of other.bodies) expect(body).not.toContain(form);
        }
      } finally {
        await other.close();
      }
    });
  });

  describe('metrics', () => {
    it('refuses GET /metrics without the token', async () => {
      for (const token of [null, 'wrong-token']) {
        const res = await t.request('GET', '/metrics', undefined, token);
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHORIZED');
      }
    });

    it('exposes workflow runs, cache results, refreshes, secret store calls, pools, queries and auth retries', async () => {
      const refused = await query('wrong-password', 'SELECT 1');
      expect(refused.status).toBe(502);
      expect(refused.body.error.code).toBe('DB_AUTH_FAILED');
      expect((await query('cached', 'SELECT 1 AS one')).status).toBe(200);

      const text = await scrape();
      for (const name of [
        'credflow_workflow_run_duration_seconds',
        'credflow_credential_cache_total',
        'credflow_credential_refreshes_total',
        'credflow_secret_store_call_duration_seconds',
        'credflow_pools',
        'credflow_pool_connections',
        'credflow_query_duration_seconds',
        'credflow_auth_failure_retries_total',
      ]) {
        expect(text).toContain(`# TYPE ${name} `);
      }
      expect(
        metric(text, 'credflow_workflow_run_duration_seconds_count', { workflow: 'getSecrets', outcome: 'ok' }),
      ).toBe(1);
      expect(
        metric(text, 'credflow_workflow_run_duration_seconds_count', { workflow: 'getEveryTime', outcome: 'ok' }),
      ).toBe(3);
      expect(metric(text, 'credflow_workflow_run_duration_seconds_sum', { workflow: 'getSecrets' })).toBeGreaterThan(0);

      const cachedQueries = resolutions(t, 'cached').length;
      expect(metric(text, 'credflow_credential_cache_total', { integration: 'cached', result: 'miss' })).toBe(1);
      expect(metric(text, 'credflow_credential_cache_total', { integration: 'cached', result: 'hit' })).toBe(
        cachedQueries - 1,
      );
      expect(metric(text, 'credflow_credential_cache_total', { integration: 'uncached', result: 'miss' })).toBe(3);
      expect(metric(text, 'credflow_credential_cache_total', { integration: 'short-ttl', result: 'refresh' })).toBe(1);

      expect(
        metric(text, 'credflow_credential_refreshes_total', {
          workflow: 'getRefreshing',
          mode: 'background',
          outcome: 'ok',
        }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        metric(text, 'credflow_credential_refreshes_total', {
          workflow: 'getShort',
          mode: 'foreground',
          outcome: 'ok',
        }),
      ).toBe(2);
      expect(metric(text, 'credflow_credential_refreshes_total', { outcome: 'error' })).toBe(0);

      // Every GetSecretValue the endpoint answered went through the agent's secret store metric.
      expect(
        metric(text, 'credflow_secret_store_call_duration_seconds_count', {
          operation: 'GetSecretValue',
          outcome: 'ok',
        }),
      ).toBe(t.secrets.countRequests('GetSecretValue'));

      const pools = metric(text, 'credflow_pools');
      expect(pools).toBeGreaterThanOrEqual(1);
      expect(pools).toBe((text.match(/^credflow_pool_connections\{[^}]*state="total"/gm) ?? []).length);
      expect(
        metric(text, 'credflow_pool_connections', { integration: 'cached', profile: 'default', state: 'total' }),
      ).toBeGreaterThanOrEqual(1);
      expect(metric(text, 'credflow_pool_connections', { state: 'waiting' })).toBe(0);

      expect(metric(text, 'credflow_query_duration_seconds_count', { integration: 'cached', outcome: 'ok' })).toBe(
        cachedQueries,
      );
      expect(metric(text, 'credflow_query_duration_seconds_count', { integration: 'busy', outcome: 'ok' })).toBe(200);
      expect(
        metric(text, 'credflow_query_duration_seconds_count', {
          integration: 'wrong-password',
          outcome: 'DB_AUTH_FAILED',
        }),
      ).toBe(1);
      expect(metric(text, 'credflow_auth_failure_retries_total', { integration: 'wrong-password' })).toBe(1);
      expect(metric(text, 'credflow_auth_failure_retries_total', { integration: 'cached' })).toBe(0);
    });
  });

  it('never lets a database password into a log line, a response or the CLI output', () => {
    const logs = t.logs.text();
    expect(logs).toContain('credentials.resolve');
    const forms = [db.password, staging.password, production.password, wrongPassword].flatMap(leakFormsOf);
    for (const form of forms) {
      expect(logs).not.toContain(form);
      for (const body of t.bodies) expect(body).not.toContain(form);
      for (const run of cliRuns) expect(run.stdout + run.stderr).not.toContain(form);
    }
  });
});

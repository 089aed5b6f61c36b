import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalSecretsManager } from '../../src/local-secrets-manager/index.js';
import { startAgent } from '../../src/agent/index.js';
import { captureLogs } from '../support/capture-logs.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir, type ConfigFiles } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../support/test-database.js';

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

const logLines = (agent: TestAgent): Record<string, unknown>[] =>
  agent.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>);

const fetchesOf = (secrets: LocalSecretsManager, secretId: string) =>
  secrets.requests.filter((r) => r.operation === 'GetSecretValue' && r.secretId === secretId).length;

/** A secret can leak raw, JSON-escaped (in a JSON body or log line) or URL-encoded. */
const leakFormsOf = (secret: string) => [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)];

/** Polls `check` until it holds, up to `tries` times; returns whether it did. */
async function eventually(check: () => Promise<boolean> | boolean, tries = 100, everyMs = 50): Promise<boolean> {
  for (let i = 0; i < tries; i += 1) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

const query = (agent: TestAgent, integration: string, sql: string, profile?: string) =>
  agent.request('POST', `/api/v1/integrations/${integration}/query${profile ? `?profile=${profile}` : ''}`, { sql });

const status = (agent: TestAgent, integration: string, profile?: string) =>
  agent.request('GET', `/api/v1/integrations/${integration}/status${profile ? `?profile=${profile}` : ''}`);

/** Backends of a role, optionally only those running `sql`. */
const backendsOf = (role: string, sql?: string) =>
  asSuperuser(async (c) => {
    const r = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND ($2::text IS NULL OR (query = $2 AND state = 'active'))`,
      [role, sql ?? null],
    );
    return r.rows[0]?.n ?? 0;
  });

describe('cache entries are per integration: a workflow that reads context.integration', () => {
  let alpha: TestDatabase;
  let beta: TestDatabase;
  let t: TestAgent;

  // Identical workflow params for every integration: only context.integration tells them apart.
  const config: ConfigFiles = {
    workflows: {
      byIntegration: {
        name: 'byIntegration',
        params: { region: 'us-east-1' },
        steps: [
          {
            name: 'fetch',
            code: "const r = await aws.secretsManager.getSecretValue({ SecretId: 'creds-' + context.integration, region: params.region }); return JSON.parse(r.SecretString);",
          },
        ],
      },
    },
    integrations: {
      alpha: postgresIntegration('alpha', 'byIntegration'),
      beta: postgresIntegration('beta', 'byIntegration'),
      gamma: postgresIntegration('gamma', 'byIntegration'),
    },
  };

  beforeAll(async () => {
    [alpha, beta] = await Promise.all([createTestDatabase('alpha'), createTestDatabase('beta')]);
    t = await startTestAgent(config);
    t.secrets.createSecret('creds-alpha', rdsSecret(alpha));
    t.secrets.createSecret('creds-beta', rdsSecret(beta));
    // No creds-gamma.
  });

  afterAll(async () => {
    await t?.close();
  });

  it('gives each integration its own credentials even though the workflow params are identical', async () => {
    for (let i = 0; i < 2; i += 1) {
      const a = await query(t, 'alpha', 'SELECT current_user AS who, current_database() AS db');
      expect(a.status).toBe(200);
      expect(a.body.rows).toEqual([{ who: alpha.username, db: alpha.dbname }]);
      const b = await query(t, 'beta', 'SELECT current_user AS who, current_database() AS db');
      expect(b.status).toBe(200);
      expect(b.body.rows).toEqual([{ who: beta.username, db: beta.dbname }]);
    }
    expect(alpha.username).not.toBe(beta.username);
    // Each integration ran the workflow once, then used its own cached entry.
    expect(fetchesOf(t.secrets, 'creds-alpha')).toBe(1);
    expect(fetchesOf(t.secrets, 'creds-beta')).toBe(1);
  });

  it("does not let an integration whose secret is missing use another integration's cached credentials", async () => {
    expect((await status(t, 'alpha')).body.cached).toBe(true);
    const res = await query(t, 'gamma', 'SELECT current_user AS who');
    expect(res.status).not.toBe(200);
    expect(res.body.rows).toBeUndefined();
    expect(res.body.error.code).toMatch(/^(WORKFLOW_FAILED|SECRET_NOT_FOUND)$/);
    expect(res.body.error.details).toMatchObject({ errorName: 'ResourceNotFoundException' });
    expect(fetchesOf(t.secrets, 'creds-gamma')).toBeGreaterThanOrEqual(1);
    expect((await status(t, 'gamma')).body.cached).toBe(false);
    // Invalidating one integration leaves the other's entry alone.
    expect((await t.request('POST', '/api/v1/integrations/beta/invalidate', {})).body.droppedResponses).toBe(1);
    expect((await status(t, 'alpha')).body.cached).toBe(true);
    expect((await status(t, 'beta')).body.cached).toBe(false);
  });
});

describe('retiring a pool strands no queued query', () => {
  let db: TestDatabase;
  let t: TestAgent;
  const SLOW = 'SELECT pg_sleep(1) AS slept';
  const QUEUED = 'SELECT 2 AS queued';

  beforeAll(async () => {
    db = await createTestDatabase('retire');
    t = await startTestAgent(
      {
        workflows: { getSecrets: secretsWorkflow('getSecrets', 'retireSecret') },
        integrations: { single: postgresIntegration('single') },
      },
      { CREDFLOW_POOL_MAX: '1' },
    );
    t.secrets.createSecret('retireSecret', rdsSecret(db));
  });

  afterAll(async () => {
    await t?.close();
  });

  it('lets a running and a queued query both finish with 200 when the pool is invalidated between them, then ends the old pool', async () => {
    expect((await query(t, 'single', 'SELECT 1 AS one')).status).toBe(200);

    const slow = query(t, 'single', SLOW);
    expect(await eventually(async () => (await backendsOf(db.username, SLOW)) > 0)).toBe(true);
    const queued = query(t, 'single', QUEUED);
    // The only connection is busy: the second query waits in the pool's queue.
    expect(await eventually(async () => (await status(t, 'single')).body.pools?.waiting === 1)).toBe(true);

    const invalidated = await t.request('POST', '/api/v1/integrations/single/invalidate', {});
    expect(invalidated.status).toBe(200);
    expect(invalidated.body).toEqual({ integration: 'single', droppedResponses: 1, drainedPools: 1 });

    const [slowRes, queuedRes] = await Promise.all([slow, queued]);
    expect(slowRes.status).toBe(200);
    expect(slowRes.body.rowCount).toBe(1);
    expect(queuedRes.status).toBe(200);
    expect(queuedRes.body.rows).toEqual([{ queued: 2 }]);

    // A new pool serves the next query; the retired one ended once its queries were done.
    expect((await query(t, 'single', 'SELECT 3 AS three')).status).toBe(200);
    expect(await eventually(async () => (await backendsOf(db.username)) === 1)).toBe(true);
    expect(
      logLines(t).some((l) => l.event === 'pool.retire' && l.integration === 'single' && l.reason === 'invalidated'),
    ).toBe(true);
  });
});

describe('profiles are limited to the declared ones or CREDFLOW_PROFILES', () => {
  let db: TestDatabase;
  let plain: TestAgent;
  let withProfiles: TestAgent;

  const config: ConfigFiles = {
    workflows: {
      getProfiled: {
        name: 'getProfiled',
        params: { secretName: 'profileSecret', region: 'us-east-1' },
        steps: [
          {
            name: 'fetch',
            code: 'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName, region: params.region }); return { ...JSON.parse(r.SecretString), profile: context.profile };',
          },
        ],
      },
    },
    integrations: {
      undeclared: postgresIntegration('undeclared', 'getProfiled'),
      declared: (() => {
        const base = postgresIntegration('declared', 'getProfiled') as {
          fetchCredentialsDynamically: Record<string, unknown>;
        };
        return {
          ...base,
          fetchCredentialsDynamically: { ...base.fetchCredentialsDynamically, profiles: { blue: {}, green: {} } },
        };
      })(),
    },
  };

  beforeAll(async () => {
    db = await createTestDatabase('prof');
    [plain, withProfiles] = await Promise.all([
      startTestAgent(config),
      startTestAgent(config, { CREDFLOW_PROFILES: 'staging,production' }),
    ]);
    for (const agent of [plain, withProfiles]) agent.secrets.createSecret('profileSecret', rdsSecret(db));
  });

  afterAll(async () => {
    await plain?.close();
    await withProfiles?.close();
  });

  it('rejects a profile an integration without profiles does not accept, with 404 PROFILE_NOT_FOUND listing default, and runs nothing', async () => {
    for (const res of [
      await query(plain, 'undeclared', 'SELECT 1', 'other'),
      await status(plain, 'undeclared', 'other'),
      await plain.request('POST', '/api/v1/integrations/undeclared/test?profile=other', {}),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('PROFILE_NOT_FOUND');
      expect(res.body.error.message).toContain('"undeclared"');
      expect(res.body.error.message).toContain('(it has: default)');
    }
    expect(fetchesOf(plain.secrets, 'profileSecret')).toBe(0);
    expect((await query(plain, 'undeclared', 'SELECT 1 AS one')).status).toBe(200);
  });

  it('accepts a profile listed in CREDFLOW_PROFILES, and the workflow sees it as context.profile', async () => {
    const res = await query(withProfiles, 'undeclared', 'SELECT current_user AS who', 'staging');
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([{ who: db.username }]);
    expect((await status(withProfiles, 'undeclared', 'staging')).body).toMatchObject({
      profile: 'staging',
      cached: true,
    });
    expect((await status(withProfiles, 'undeclared')).body).toMatchObject({ profile: 'default', cached: false });

    const runs = logLines(withProfiles).filter((l) => l.event === 'workflow.run' && l.integration === 'undeclared');
    expect(runs.map((l) => l.profile)).toEqual(['staging']);

    const preview = await withProfiles.request('POST', '/api/v1/workflows/getProfiled/run?profile=staging', {});
    expect(preview.status).toBe(200);
    expect(preview.body.response).toMatchObject({ profile: 'staging', password: '********' });

    const other = await query(withProfiles, 'undeclared', 'SELECT 1', 'qa');
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('PROFILE_NOT_FOUND');
    expect(other.body.error.message).toContain('default, staging, production');
  });

  it('does not extend the profiles an integration declares with CREDFLOW_PROFILES', async () => {
    const res = await query(withProfiles, 'declared', 'SELECT 1', 'staging');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('PROFILE_NOT_FOUND');
    expect(res.body.error.message).toContain('blue, green');
    expect((await query(withProfiles, 'declared', 'SELECT 1 AS one', 'blue')).status).toBe(200);
  });

  it('refuses to start when CREDFLOW_PROFILES names a profile no request could ask for, naming the variable', async () => {
    const folder = await writeConfigDir(config);
    try {
      const failure = await startAgent({
        dir: folder.dir,
        env: { CREDFLOW_PROFILES: 'staging,not a profile!' },
        port: 0,
        host: '127.0.0.1',
        logDestination: captureLogs(),
        secrets: { endpoint: 'http://127.0.0.1:9', defaultRegion: 'us-east-1' },
      }).then(
        async (running) => {
          await running.close();
          return undefined;
        },
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: 'CONFIG_INVALID' });
      expect((failure as Error).message).toContain('CREDFLOW_PROFILES');
    } finally {
      await folder.remove();
    }
  });

  it('drops the entries of CREDFLOW_PROFILES profiles too on invalidate', async () => {
    expect((await query(withProfiles, 'undeclared', 'SELECT 1 AS one')).status).toBe(200);
    expect((await status(withProfiles, 'undeclared', 'staging')).body.cached).toBe(true);
    expect((await status(withProfiles, 'undeclared')).body.cached).toBe(true);

    const res = await withProfiles.request('POST', '/api/v1/integrations/undeclared/invalidate', {});
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ integration: 'undeclared', droppedResponses: 2, drainedPools: 2 });
    expect((await status(withProfiles, 'undeclared', 'staging')).body).toMatchObject({
      cached: false,
      pools: { total: 0 },
    });
    expect((await status(withProfiles, 'undeclared')).body.cached).toBe(false);
  });
});

describe('masking: decoded binary secrets, the agent’s own secrets and the API tokens', () => {
  let t: TestAgent;
  const AGENT_KEY = 'agent-key-0123456789';
  const binaryPassword = 'Bin-pw-7f3a9c21&<>"x';
  const plainBinary = 'plain-binary-secret-5e8d1b';

  const config: ConfigFiles = {
    workflows: {
      decodeBinary: {
        name: 'decodeBinary',
        params: { secretName: 'binarySecret' },
        steps: [
          {
            name: 'fetch',
            code: 'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName }); const text = base64.decode(r.SecretBinary); console.log(text); return JSON.parse(text);',
          },
        ],
      },
      decodePlainBinary: {
        name: 'decodePlainBinary',
        params: { secretName: 'plainBinary' },
        steps: [
          {
            name: 'fetch',
            code: "const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName }); const text = base64.decode(r.SecretBinary); console.log('decoded: ' + text); return { note: text };",
          },
        ],
      },
      echo: {
        name: 'echo',
        params: { value: '' },
        steps: [{ name: 'echo', code: "console.log('value: ' + params.value); return { note: params.value };" }],
      },
      fail: {
        name: 'fail',
        params: { value: '' },
        steps: [{ name: 'fail', code: "throw new Error('cannot use ' + params.value);" }],
      },
    },
    integrations: {},
  };

  beforeAll(async () => {
    t = await startTestAgent(config, { AWS_SECRET_ACCESS_KEY: AGENT_KEY });
    t.secrets.createSecret('binarySecret', {
      SecretBinary: new TextEncoder().encode(JSON.stringify({ username: 'binuser', password: binaryPassword })),
    });
    t.secrets.createSecret('plainBinary', { SecretBinary: new TextEncoder().encode(plainBinary) });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('masks a binary secret decoded by the step, in the response and the step logs, unless revealed', async () => {
    const masked = await t.request('POST', '/api/v1/workflows/decodeBinary/run', {});
    expect(masked.status).toBe(200);
    expect(masked.body.masked).toBe(true);
    expect(masked.body.response).toMatchObject({ username: 'binuser', password: '********' });
    expect(masked.body.steps[0].logs).toHaveLength(1);
    expect(masked.body.steps[0].logs[0]).toContain('********');
    for (const form of leakFormsOf(binaryPassword)) {
      expect(masked.text).not.toContain(form);
      expect(t.logs.text()).not.toContain(form);
    }

    const revealed = await t.request('POST', '/api/v1/workflows/decodeBinary/run', { reveal: true });
    expect(revealed.status).toBe(200);
    expect(revealed.body.masked).toBe(false);
    expect(revealed.body.response).toEqual({ username: 'binuser', password: binaryPassword });
    expect(revealed.body.steps[0].logs).toEqual([JSON.stringify({ username: 'binuser', password: binaryPassword })]);
    expect(t.logs.text()).not.toContain(binaryPassword);
  });

  it('masks a decoded binary secret that is plain text, even under a key that is not secret-named', async () => {
    const masked = await t.request('POST', '/api/v1/workflows/decodePlainBinary/run', {});
    expect(masked.status).toBe(200);
    expect(masked.body.response).toEqual({ note: '********' });
    expect(masked.body.steps[0].logs).toEqual(['decoded: ********']);
    for (const form of leakFormsOf(plainBinary)) expect(masked.text).not.toContain(form);

    const revealed = await t.request('POST', '/api/v1/workflows/decodePlainBinary/run', { reveal: true });
    expect(revealed.body.response).toEqual({ note: plainBinary });
    expect(t.logs.text()).not.toContain(plainBinary);
  });

  it("masks the agent's own AWS secret access key when a step logs or returns it", async () => {
    const masked = await t.request('POST', '/api/v1/workflows/echo/run', { params: { value: AGENT_KEY } });
    expect(masked.status).toBe(200);
    expect(masked.body.response).toEqual({ note: '********' });
    expect(masked.body.steps[0].logs).toEqual(['value: ********']);
    for (const form of leakFormsOf(AGENT_KEY)) expect(masked.text).not.toContain(form);

    const failed = await t.request('POST', '/api/v1/workflows/fail/run', { params: { value: AGENT_KEY } });
    expect(failed.status).not.toBe(200);
    expect(failed.body.error.code).toBe('WORKFLOW_FAILED');
    expect(failed.text).toContain('cannot use ********');
    expect(logLines(t).some((l) => l.event === 'workflow.run' && l.workflow === 'fail' && l.outcome === 'error')).toBe(
      true,
    );
    for (const form of leakFormsOf(AGENT_KEY)) {
      expect(failed.text).not.toContain(form);
      expect(t.logs.text()).not.toContain(form);
    }
  });

  it('never writes an API token into the logs, even when a step is handed one', async () => {
    for (const token of [t.token, 'second-token-abcdef']) {
      const failed = await t.request('POST', '/api/v1/workflows/fail/run', { params: { value: token } });
      expect(failed.body.error.code).toBe('WORKFLOW_FAILED');
    }
    const failures = logLines(t).filter(
      (l) => l.event === 'workflow.run' && l.workflow === 'fail' && l.outcome === 'error',
    );
    expect(failures.length).toBeGreaterThanOrEqual(2);
    for (const token of [t.token, 'second-token-abcdef']) {
      for (const form of leakFormsOf(token)) expect(t.logs.text()).not.toContain(form);
    }
  });

  /** A step handed `token` fails, so the agent logs the step's error message; returns the captured log text. */
  async function logsAfterFailingWith(
    options: { env?: NodeJS.ProcessEnv; tokens?: string[] },
    token: (tokens: string[]) => string,
  ) {
    const a = await startTestAgent({ workflows: { fail: config.workflows?.fail ?? {} } }, options.env, {
      tokens: options.tokens ?? 'configured',
    });
    try {
      const value = token(a.agent.tokens);
      const res = await a.request('POST', '/api/v1/workflows/fail/run', { params: { value } }, a.agent.tokens[0] ?? '');
      expect(res.status).toBe(502);
      expect(a.logs.lines.some((line) => line.includes('"workflow run failed"'))).toBe(true);
      return { text: a.logs.text(), value };
    } finally {
      await a.close();
    }
  }

  it('never writes a token configured with CREDFLOW_API_TOKENS into the logs', async () => {
    const { text, value } = await logsAfterFailingWith(
      { env: { CREDFLOW_API_TOKENS: 'env-token-0123456789,env-token-abcdefghij' } },
      (tokens) => tokens[1] ?? '',
    );
    expect(value).toBe('env-token-abcdefghij');
    for (const form of leakFormsOf(value)) expect(text).not.toContain(form);
  });

  it('never writes a generated API token into the logs', async () => {
    const { text, value } = await logsAfterFailingWith({}, (tokens) => tokens[0] ?? '');
    expect(value.length).toBeGreaterThan(20);
    for (const form of leakFormsOf(value)) expect(text).not.toContain(form);
  });
});

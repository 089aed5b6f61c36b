import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/index.js';
import { captureLogs } from '../support/capture-logs.js';
import { postgresIntegration, writeConfigDir, type ConfigFiles } from '../support/config-dir.js';
import { fetchesOf, logLines, query, rdsSecret, status } from '../support/integration-probes.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

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

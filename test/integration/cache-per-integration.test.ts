import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresIntegration, type ConfigFiles } from '../support/config-dir.js';
import { fetchesOf, query, rdsSecret, status } from '../support/integration-probes.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

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

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresIntegration, secretsWorkflow } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';

/** Read by no test: the status reads the workflow's code, it never runs it. */
const mixedWorkflow = {
  name: 'mixed',
  allowedHosts: ['https://api.example.com'],
  steps: [
    { name: 'readSsm', code: 'return aws.ssm.getParameter({ Name: "/db/password", WithDecryption: true });' },
    { name: 'readVault', code: 'const kv = vault.kv; return kv.get({ path: "secret/db" });' },
    { name: 'callApi', code: 'return (await http.fetch("https://api.example.com/db")).json();' },
  ],
};

const staticIntegration = {
  name: 'fixed',
  kind: 'postgres',
  connection: { host: '127.0.0.1', port: 5432, database: 'app', user: 'app', password: 'not-a-secret-here' },
};

describe('integration status names the stores its workflow reads (issue 14, "for every store")', () => {
  let t: TestAgent;

  beforeAll(async () => {
    t = await startTestAgent({
      workflows: { getSecrets: secretsWorkflow(), mixed: mixedWorkflow },
      integrations: {
        orders: postgresIntegration('orders'),
        mixed: postgresIntegration('mixed', 'mixed'),
        fixed: staticIntegration,
      },
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  const storesOf = async (integration: string) => {
    const res = await t.request('GET', `/api/v1/integrations/${integration}/status`);
    expect(res.status).toBe(200);
    return res.body.stores;
  };

  it('lists the one store of the shipped Secrets Manager workflow', async () => {
    expect(await storesOf('orders')).toEqual(['secretsmanager']);
  });

  it('lists every store a workflow of several reaches, sorted', async () => {
    expect(await storesOf('mixed')).toEqual(['http', 'ssm', 'vault']);
  });

  it('lists none for an integration without a workflow', async () => {
    expect(await storesOf('fixed')).toEqual([]);
  });
});

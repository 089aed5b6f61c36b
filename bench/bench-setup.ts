import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { seedDemoDatabase, type DemoDatabase } from '#credflow/embedded/seed-demo-database.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '#credflow/embedded/start-embedded-postgres.js';
import { startLocalSecretsManager, type LocalSecretsManager } from '#credflow/local-secrets-manager/index.js';

export interface BenchSetup {
  postgres: EmbeddedPostgresHandle;
  demo: DemoDatabase;
  secrets: LocalSecretsManager;
  /** Config folder: workflows/ and integrations/ for every scenario. */
  dir: string;
  /** Names of the 100 distinct integrations of the RSS scenario. */
  manyIntegrations: string[];
  /** Cold integrations for the single-flight rounds. */
  coldIntegrations: string[];
  stop(): Promise<void>;
}

const fetchStep = {
  name: 'fetch',
  code: 'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName }); return JSON.parse(r.SecretString);',
};

const integrationFor = (name: string, params: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name,
  kind: 'postgres',
  fetchCredentialsDynamically: { enabled: true, workflow: 'getSecrets', params, ...extra },
  connection: {
    host: '<<getSecrets.response.host>>',
    port: '<<getSecrets.response.port>>',
    database: '<<getSecrets.response.dbname>>',
    user: '<<getSecrets.response.username>>',
    password: '<<getSecrets.response.password>>',
  },
});

/**
 * Everything the benchmark needs, on loopback: an embedded PostgreSQL with password auth (more
 * connections than the default 100, for the 100-integration scenario), the local Secrets Manager
 * endpoint seeded with one secret per scenario, and a config folder.
 */
export async function setUpBench(options: { coldRounds: number; many: number }): Promise<BenchSetup> {
  const postgres = await startEmbeddedPostgres({
    extraFlags: ['-c', 'max_connections=400', '-c', 'shared_buffers=64MB'],
  });
  const demo = await seedDemoDatabase(postgres);
  // One secret per integration (and the shared one), beyond the endpoint's default cap.
  const secrets = await startLocalSecretsManager({ limits: { maxSecrets: options.many + options.coldRounds + 1 } });
  const secret = JSON.stringify({ engine: 'postgres', ...demo });
  secrets.createSecret('postgresSecrets', { SecretString: secret });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-bench-'));
  await mkdir(path.join(dir, 'workflows'));
  await mkdir(path.join(dir, 'integrations'));
  const write = (sub: string, name: string, doc: unknown) =>
    writeFile(path.join(dir, sub, `${name}.json`), JSON.stringify(doc));

  await write('workflows', 'getSecrets', {
    name: 'getSecrets',
    params: { secretName: 'postgresSecrets' },
    steps: [fetchStep],
  });
  await write('integrations', 'cached', integrationFor('cached', {}));
  await write('integrations', 'uncached', integrationFor('uncached', {}, { cacheTtlSeconds: 0 }));
  // Integrations with a secret each, so each one runs its own workflow.
  const withOwnSecrets = async (prefix: string, count: number): Promise<string[]> => {
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    for (const name of names) {
      secrets.createSecret(`bench/${name}`, { SecretString: secret });
      await write('integrations', name, integrationFor(name, { secretName: `bench/${name}` }));
    }
    return names;
  };
  const manyIntegrations = await withOwnSecrets('many', options.many);
  const coldIntegrations = await withOwnSecrets('cold', options.coldRounds);
  return {
    postgres,
    demo,
    secrets,
    dir,
    manyIntegrations,
    coldIntegrations,
    async stop() {
      await secrets.close();
      await postgres.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

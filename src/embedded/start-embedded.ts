import type { DestinationStream } from 'pino';
import { startAgent, type RunningAgent } from '../agent/index.js';
import {
  randomKeyPair,
  RoleRegistry,
  startLocalSecretsManager,
  type LocalSecretsManager,
} from '../local-secrets-manager/index.js';
import { startLocalVault, type LocalVault } from '../local-vault/index.js';
import { claimEmbeddedState, removeEmbeddedState, updateEmbeddedState } from './embedded-state.js';
import { seedDemoDatabase } from './seed-demo-database.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './start-embedded-postgres.js';

export const embeddedRegion = 'us-east-1';
/** The SecureString parameter the embedded endpoint is seeded with (workflows/getSsmParameter.json reads it). */
export const demoParameterName = '/credflow/demo/postgres';
/** The role workflows/getSecretsAsRole.json assumes (with this external id) to read postgresSecrets. */
export const demoRole = { name: 'credflow-demo-reader', externalId: 'credflow-demo' } as const;
/** The role of the embedded Vault's database secrets engine (workflows/getVaultDatabaseCreds.json). */
export const demoVaultDatabaseRole = 'demo';

export interface EmbeddedStack {
  agent: RunningAgent;
  secrets: LocalSecretsManager;
  vault: LocalVault;
  postgres: EmbeddedPostgresHandle;
  stop(): Promise<void>;
}

export interface StartEmbeddedOptions {
  dir: string;
  env?: NodeJS.ProcessEnv;
  port?: number;
  host?: string;
  tokens?: string[];
  logDestination?: DestinationStream;
  /** Told what was cleaned up after an agent that died hard in the same folder, one sentence each. */
  onNotice?: (line: string) => void;
}

/**
 * The embedded default: a throw-away PostgreSQL with password auth and a demo table, a local
 * Secrets Manager and SSM endpoint seeded with `postgresSecrets` in the RDS shape (and the same
 * JSON as the SecureString parameter `/credflow/demo/postgres`), a local Vault endpoint with the
 * same credentials at `secret/demo/postgres` (KV v2) and a database secrets engine whose role
 * `demo` creates a user per lease, an IAM role that may read `postgresSecrets`, and the agent serving the configuration in
 * `dir`, which reaches the endpoints only through the AWS SDK and Node's fetch.
 */
export async function startEmbedded(options: StartEmbeddedOptions): Promise<EmbeddedStack> {
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  // Claimed first: a second start in the same folder refuses before it starts anything.
  for (const line of await claimEmbeddedState(options.dir)) options.onNotice?.(line);
  cleanups.push(() => removeEmbeddedState(options.dir));
  try {
    const postgres = await startEmbeddedPostgres({
      onPaths: ({ dataDir, passwordDir }) => updateEmbeddedState(options.dir, { postgres: { dataDir, passwordDir } }),
    });
    cleanups.push(() => postgres.stop());
    await updateEmbeddedState(options.dir, {
      postgres: { dataDir: postgres.dataDir, passwordDir: postgres.passwordDir, pid: postgres.pid() },
    });
    const demo = await seedDemoDatabase(postgres);
    // Generated per start, kept in memory and in the 0600 state file only: the endpoint refuses
    // every request not signed with them, so other local users cannot read or change the demo secrets.
    const credentials = randomKeyPair();
    // One IAM role, which this start's key pair may assume with the demo's external id and whose
    // sessions may read postgresSecrets only (workflows/getSecretsAsRole.json).
    const roles = new RoleRegistry();
    roles.define({ ...demoRole, secrets: ['postgresSecrets'], trusted: [credentials.accessKeyId] });
    const secrets = await startLocalSecretsManager({ region: embeddedRegion, credentials: [credentials], roles });
    cleanups.push(() => secrets.close());
    const demoSecret = JSON.stringify({ engine: 'postgres', ...demo });
    secrets.createSecret(
      'postgresSecrets',
      { SecretString: demoSecret },
      { description: 'credentials of the embedded demo database' },
    );
    // The same credentials in SSM Parameter Store, which the same endpoint serves: the
    // demo-postgres-ssm integration reads them through the getSsmParameter workflow.
    secrets.putParameter(demoParameterName, demoSecret, { type: 'SecureString' });
    // Vault's database secrets engine creates a user per lease in the demo database, who may read
    // its orders (workflows/getVaultDatabaseCreds.json); a lease lasts an hour unless renewed.
    const vault = await startLocalVault({
      kvMounts: ['secret'],
      database: {
        admin: {
          host: postgres.host,
          port: postgres.port,
          user: postgres.user,
          password: postgres.password,
          database: demo.dbname,
        },
        roles: {
          [demoVaultDatabaseRole]: {
            grants: [`GRANT CONNECT ON DATABASE "${demo.dbname}" TO {{name}}`, 'GRANT SELECT ON orders TO {{name}}'],
          },
        },
      },
    });
    cleanups.push(() => vault.close());
    vault.putKv('secret', 'demo/postgres', { ...demo });
    const env = options.env ?? process.env;
    const agent = await startAgent({
      dir: options.dir,
      // The demo's Vault, unless the user points the agent at their own.
      env: env.VAULT_ADDR ? env : { ...env, VAULT_ADDR: vault.url, CREDFLOW_VAULT_TOKEN: vault.rootToken },
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.host ? { host: options.host } : {}),
      ...(options.tokens ? { tokens: options.tokens } : {}),
      ...(options.logDestination ? { logDestination: options.logDestination } : {}),
      secrets: { endpoint: secrets.url, defaultRegion: embeddedRegion, defaultCredentials: credentials },
    });
    agent.parts.masker.add(postgres.password);
    cleanups.push(() => agent.close());
    await updateEmbeddedState(options.dir, {
      secretsEndpoint: secrets.url,
      region: embeddedRegion,
      secretsCredentials: credentials,
      agentUrl: agent.url,
      // For CLI commands in another terminal; only when the agent uses the demo's Vault.
      ...(env.VAULT_ADDR ? {} : { vault: { addr: vault.url, token: vault.rootToken } }),
    });
    return { agent, secrets, vault, postgres, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

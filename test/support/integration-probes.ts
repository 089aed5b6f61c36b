import type { LocalSecretsManager } from './local-secrets-manager/index.js';
import type { TestAgent } from './start-test-agent.js';
import type { TestDatabase } from './test-database.js';

/** A secret value in the RDS shape for `db`, with `overrides` merged in. */
export const rdsSecret = (db: TestDatabase, overrides: Record<string, unknown> = {}) => ({
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

/** The agent's log lines, parsed. */
export const logLines = (agent: TestAgent): Record<string, unknown>[] =>
  agent.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>);

/** How many times the endpoint was asked for `secretId` (GetSecretValue requests). */
export const fetchesOf = (secrets: LocalSecretsManager, secretId: string) =>
  secrets.requests.filter((r) => r.operation === 'GetSecretValue' && r.secretId === secretId).length;

/** POST /query on `integration`, with `?profile=` when one is given. */
export const query = (agent: TestAgent, integration: string, sql: string, profile?: string) =>
  agent.request('POST', `/api/v1/integrations/${integration}/query${profile ? `?profile=${profile}` : ''}`, { sql });

/** GET /status of `integration`, with `?profile=` when one is given. */
export const status = (agent: TestAgent, integration: string, profile?: string) =>
  agent.request('GET', `/api/v1/integrations/${integration}/status${profile ? `?profile=${profile}` : ''}`);

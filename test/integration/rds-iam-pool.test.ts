import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCredflowError } from '../../src/errors.js';
import { SecretMasker } from '../../src/masking/index.js';
import { createPoolRegistry, runQuery, type PoolRegistry, type QueryLimits } from '../../src/postgres/index.js';
import { RdsIamTokens } from '../../src/secrets/index.js';
import { captureLogs } from '../support/capture-logs.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const limits: QueryLimits = { readOnly: false, statementTimeoutMs: 10_000, maxRows: 10, maxResultBytes: 1 << 16 };

describe('a pool whose token cannot be signed', () => {
  let db: TestDatabase;
  let pools: PoolRegistry;
  const masker = new SecretMasker();
  const logs = captureLogs();

  beforeAll(async () => {
    db = await createTestDatabase('rdsiamfail');
    const logger = pino({ level: 'info' }, logs);
    // A key pair without its secret half: the SDK refuses to sign with it.
    const credentials = { accessKeyId: 'AKIDNOSECRET' } as unknown as { accessKeyId: string; secretAccessKey: string };
    const rdsIamTokens = new RdsIamTokens({ credentials, reuseMs: 600_000, masker, logger });
    pools = createPoolRegistry({ logger, max: 2, connectTimeoutMs: 5_000, maxMessageBytes: 1 << 20, rdsIamTokens });
  });

  afterAll(async () => {
    await pools?.close();
  });

  it('fails the query with DB_CONNECT_FAILED naming the integration, and tries again on the next connection', async () => {
    const lease = () =>
      pools.lease({
        integration: 'iamfail',
        profile: 'default',
        connectionKey: 'k',
        connection: {
          host: db.host,
          port: db.port,
          database: db.dbname,
          user: db.username,
          ssl: false,
          auth: { type: 'rds-iam', region: 'eu-west-1', tls: 'insecure-plaintext-for-tests-only' },
        },
      });
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const held = lease();
      const error = await runQuery({ lease: held, integration: 'iamfail', sql: 'SELECT 1', params: [], masker, limits })
        .then(() => undefined)
        .catch((e: unknown) => e)
        .finally(() => held.release());
      expect(isCredflowError(error) && error.code).toBe('DB_CONNECT_FAILED');
      expect((error as Error).message).toMatch(/^integration "iamfail": could not sign an RDS IAM token/);
    }
    expect(logs.lines.filter((l) => l.includes('"pool.create"'))).toHaveLength(1);
    expect(logs.lines.filter((l) => l.includes('"rds_iam.token"'))).toHaveLength(0);
  });
});

import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../src/local-secrets-manager/index.js';

describe('the Secrets Manager endpoint the embedded demo ships', () => {
  let endpoint: LocalSecretsManager;
  let sm: SecretsManagerClient;

  beforeAll(async () => {
    endpoint = await startLocalSecretsManager();
    sm = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: endpoint.url,
      credentials: endpoint.credentials,
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    sm?.destroy();
    await endpoint?.close();
  });

  it('answers what the agent and `credflow secrets put` call: CreateSecret, PutSecretValue, GetSecretValue, BatchGetSecretValue, DescribeSecret', async () => {
    endpoint.createSecret('seeded', { SecretString: 'first' });
    await sm.send(new CreateSecretCommand({ Name: 'put', SecretString: 'one' }));
    await sm.send(new PutSecretValueCommand({ SecretId: 'put', SecretString: 'two' }));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'put' }))).SecretString).toBe('two');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'seeded' }))).SecretString).toBe('first');
    const batch = await sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['put', 'seeded'] }));
    expect(batch.SecretValues?.map((v) => v.SecretString)).toEqual(['two', 'first']);
    const described = await sm.send(new DescribeSecretCommand({ SecretId: 'put' }));
    expect([described.Name, described.RotationEnabled, Object.keys(described.VersionIdsToStages ?? {}).length]).toEqual(
      ['put', false, 2],
    );
  });

  it('refuses the operations only the tests use with UnknownOperationException', async () => {
    const refusal = (call: Promise<unknown>) =>
      call.then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(await refusal(sm.send(new ListSecretsCommand({})))).toMatchObject({ name: 'UnknownOperationException' });
  });
});

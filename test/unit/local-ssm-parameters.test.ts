import {
  BatchGetSecretValueCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalSecretsManager, type LocalSecretsManager } from '../support/local-secrets-manager/index.js';

let endpoint: LocalSecretsManager;
let ssm: SSMClient;
let sm: SecretsManagerClient;
const stored: string[] = [];

/** The rejection of `promise`, failing the test if it resolves. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  endpoint = await startLocalSecretsManager({ onValueStored: (v) => stored.push(v) });
  const common = { region: 'us-east-1', endpoint: endpoint.url, credentials: endpoint.credentials, maxAttempts: 1 };
  ssm = new SSMClient(common);
  sm = new SecretsManagerClient(common);
  endpoint.putParameter('/app/db/host', 'db.internal');
  endpoint.putParameter('/app/db/password', 's3cr3t-pw', { type: 'SecureString' });
  endpoint.putParameter('/app/db/replicas', 'r1,r2', { type: 'StringList' });
  endpoint.putParameter('/app/cache/url', 'redis://cache:6379');
  endpoint.putParameter('/app/name', 'orders');
  endpoint.putParameter('plain', 'flat');
});

afterAll(async () => {
  ssm?.destroy();
  sm?.destroy();
  await endpoint?.close();
});

describe('the local endpoint’s SSM Parameter Store', () => {
  it('answers GetParameter through the real SSM client, by name or ARN, with the value’s type and version', async () => {
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/app/db/host' }));
    expect(Parameter).toMatchObject({ Name: '/app/db/host', Type: 'String', Value: 'db.internal', Version: 1 });
    expect(Parameter?.LastModifiedDate).toBeInstanceOf(Date);
    const byArn = await ssm.send(new GetParameterCommand({ Name: Parameter!.ARN! }));
    expect(byArn.Parameter?.Value).toBe('db.internal');
    expect((await ssm.send(new GetParameterCommand({ Name: 'plain' }))).Parameter?.Value).toBe('flat');
    endpoint.putParameter('plain', 'flatter', { overwrite: true });
    expect((await ssm.send(new GetParameterCommand({ Name: 'plain' }))).Parameter).toMatchObject({
      Value: 'flatter',
      Version: 2,
    });
  });

  it('decrypts a SecureString only WithDecryption, answering ciphertext otherwise', async () => {
    const sealed = await ssm.send(new GetParameterCommand({ Name: '/app/db/password' }));
    expect(sealed.Parameter?.Type).toBe('SecureString');
    expect(sealed.Parameter?.Value).not.toContain('s3cr3t');
    const open = await ssm.send(new GetParameterCommand({ Name: '/app/db/password', WithDecryption: true }));
    expect(open.Parameter?.Value).toBe('s3cr3t-pw');
    // Only SecureString values count as secrets for the leak searches.
    expect(stored).toEqual(['s3cr3t-pw']);
  });

  it('names a missing parameter ParameterNotFound and a bad path ValidationException', async () => {
    expect((await failure(ssm.send(new GetParameterCommand({ Name: '/app/none' })))).name).toBe('ParameterNotFound');
    expect((await failure(ssm.send(new GetParametersByPathCommand({ Path: 'app' })))).name).toBe('ValidationException');
    expect(
      (await failure(ssm.send(new GetParametersByPathCommand({ Path: '/app', NextToken: 'not-a-token' })))).name,
    ).toBe('InvalidNextToken');
    expect(() => endpoint.putParameter('/app/db/host', 'again')).toThrow(/already exists/);
  });

  it('lists a path’s children, or all its descendants with Recursive, page by page', async () => {
    const children = await ssm.send(new GetParametersByPathCommand({ Path: '/app' }));
    expect(children.Parameters?.map((p) => p.Name)).toEqual(['/app/name']);
    const names: string[] = [];
    let NextToken: string | undefined;
    let pages = 0;
    do {
      const page = await ssm.send(
        new GetParametersByPathCommand({ Path: '/app/', Recursive: true, MaxResults: 2, NextToken }),
      );
      names.push(...(page.Parameters ?? []).map((p) => p.Name!));
      NextToken = page.NextToken;
      pages += 1;
    } while (NextToken);
    expect(pages).toBe(3);
    expect(names).toEqual(['/app/cache/url', '/app/db/host', '/app/db/password', '/app/db/replicas', '/app/name']);
  });
});

describe('the local endpoint’s BatchGetSecretValue and DescribeSecret', () => {
  it('answers several secrets in one call, each failure an entry of Errors', async () => {
    endpoint.createSecret('batch/a', { SecretString: 'alpha' });
    endpoint.createSecret('batch/b', { SecretBinary: new Uint8Array([1, 2, 3]) });
    const out = await sm.send(new BatchGetSecretValueCommand({ SecretIdList: ['batch/a', 'batch/none', 'batch/b'] }));
    expect(out.SecretValues?.map((v) => v.Name)).toEqual(['batch/a', 'batch/b']);
    expect(out.SecretValues?.[0]?.SecretString).toBe('alpha');
    expect([...(out.SecretValues?.[1]?.SecretBinary ?? [])]).toEqual([1, 2, 3]);
    expect(out.Errors).toEqual([
      { SecretId: 'batch/none', ErrorCode: 'ResourceNotFoundException', Message: expect.any(String) },
    ]);
  });

  it('reports rotation metadata', async () => {
    endpoint.createSecret('rotating', { SecretString: 'v1' });
    const next = Date.UTC(2030, 0, 2);
    endpoint.setRotation('rotating', { enabled: true, lastRotatedDate: Date.UTC(2030, 0, 1), nextRotationDate: next });
    const described = await sm.send(new DescribeSecretCommand({ SecretId: 'rotating' }));
    expect(described.RotationEnabled).toBe(true);
    expect(described.NextRotationDate?.getTime()).toBe(next);
    expect(described.LastRotatedDate?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });
});

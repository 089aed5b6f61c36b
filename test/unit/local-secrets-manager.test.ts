import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLocalSecretsManager } from '../support/local-secrets-manager/index.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager/index.js';
import { rawAwsCall } from '../support/aws-raw-call.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let lsm: LocalSecretsManager;
let sm: SecretsManagerClient;
const clients: SecretsManagerClient[] = [];

/** The key pairs the endpoint accepts in these tests. */
const keys = {
  AKIDTEST: { accessKeyId: 'AKIDTEST', secretAccessKey: 'tQ4vN8zR2kW6yH1mB5xC9jL3' },
  AKIDOTHER: { accessKeyId: 'AKIDOTHER', secretAccessKey: 'Zp3Gh7Ks1Vd9Qm5Wr2Nx8Tb4' },
};

function client(options: { maxAttempts?: number; accessKeyId?: keyof typeof keys } = {}): SecretsManagerClient {
  const made = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: lsm.url,
    credentials: keys[options.accessKeyId ?? 'AKIDTEST'],
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  });
  clients.push(made);
  return made;
}

/** The rejection of `promise`, failing the test if it resolves. */
async function failure(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number }; $fault?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

/** A raw request signed by hand (not through the SDK) with the test's key pair. */
function rawCall(target: string | undefined, body: string): Promise<Response> {
  return rawAwsCall(lsm.url, { ...(target ? { target } : {}), body, sign: keys.AKIDTEST });
}

beforeEach(async () => {
  lsm = await startLocalSecretsManager({ credentials: [keys.AKIDTEST, keys.AKIDOTHER] });
  sm = client();
});

afterEach(async () => {
  for (const made of clients.splice(0)) made.destroy();
  await lsm.close();
});

describe('local Secrets Manager through the AWS SDK', () => {
  it('creates a secret with a realistic ARN and UUID version, readable by name and by ARN', async () => {
    const created = await sm.send(
      new CreateSecretCommand({ Name: 'db/orders', SecretString: '{"password":"p&\\"1"}' }),
    );
    expect(created.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:db\/orders-[A-Za-z0-9]{6}$/);
    expect(created.Name).toBe('db/orders');
    expect(created.VersionId).toMatch(UUID);

    const byName = await sm.send(new GetSecretValueCommand({ SecretId: 'db/orders' }));
    expect(byName).toMatchObject({
      ARN: created.ARN,
      Name: 'db/orders',
      VersionId: created.VersionId,
      SecretString: '{"password":"p&\\"1"}',
      VersionStages: ['AWSCURRENT'],
    });
    expect(byName.SecretBinary).toBeUndefined();
    expect(byName.CreatedDate).toBeInstanceOf(Date);
    expect(Math.abs(byName.CreatedDate!.getTime() - Date.now())).toBeLessThan(5_000);

    const byArn = await sm.send(new GetSecretValueCommand({ SecretId: created.ARN }));
    expect(byArn.VersionId).toBe(created.VersionId);
  });

  it('moves AWSCURRENT to the new version and AWSPREVIOUS to the one that had it on PutSecretValue', async () => {
    const v1 = lsm.createSecret('app', { SecretString: 'one' }).VersionId;
    const put2 = await sm.send(new PutSecretValueCommand({ SecretId: 'app', SecretString: 'two' }));
    expect(put2.VersionStages).toEqual(['AWSCURRENT']);
    const put3 = await sm.send(new PutSecretValueCommand({ SecretId: 'app', SecretString: 'three' }));

    const current = await sm.send(new GetSecretValueCommand({ SecretId: 'app' }));
    expect([current.VersionId, current.SecretString]).toEqual([put3.VersionId, 'three']);
    const previous = await sm.send(new GetSecretValueCommand({ SecretId: 'app', VersionStage: 'AWSPREVIOUS' }));
    expect([previous.VersionId, previous.SecretString]).toEqual([put2.VersionId, 'two']);

    // v1 lost its last label: deprecated, left out of VersionIdsToStages, still readable by id.
    const described = await sm.send(new DescribeSecretCommand({ SecretId: 'app' }));
    expect(described.VersionIdsToStages).toEqual({
      [put2.VersionId!]: ['AWSPREVIOUS'],
      [put3.VersionId!]: ['AWSCURRENT'],
    });
    const old = await sm.send(new GetSecretValueCommand({ SecretId: 'app', VersionId: v1 }));
    expect([old.SecretString, old.VersionStages]).toEqual(['one', []]);
  });

  it('adds an AWSPENDING version without touching AWSCURRENT and promotes it with UpdateSecretVersionStage', async () => {
    const v1 = lsm.createSecret('rotating', { SecretString: 'user_a' }).VersionId;
    const pending = await sm.send(
      new PutSecretValueCommand({ SecretId: 'rotating', SecretString: 'user_b', VersionStages: ['AWSPENDING'] }),
    );
    const v2 = pending.VersionId!;
    expect(pending.VersionStages).toEqual(['AWSPENDING']);
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'rotating' }))).SecretString).toBe('user_a');
    expect(
      (await sm.send(new GetSecretValueCommand({ SecretId: 'rotating', VersionStage: 'AWSPENDING' }))).SecretString,
    ).toBe('user_b');

    const withoutRemove = await failure(
      sm.send(
        new UpdateSecretVersionStageCommand({ SecretId: 'rotating', VersionStage: 'AWSCURRENT', MoveToVersionId: v2 }),
      ),
    );
    expect(withoutRemove.name).toBe('InvalidParameterException');
    expect(withoutRemove.message).toContain(`currently attached to version ${v1}`);

    const promoted = await sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 'rotating',
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: v2,
        RemoveFromVersionId: v1,
      }),
    );
    expect(promoted.Name).toBe('rotating');
    await sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 'rotating',
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: v2,
      }),
    );

    const current = await sm.send(new GetSecretValueCommand({ SecretId: 'rotating' }));
    expect([current.VersionId, current.SecretString]).toEqual([v2, 'user_b']);
    const described = await sm.send(new DescribeSecretCommand({ SecretId: 'rotating' }));
    expect(described.VersionIdsToStages).toEqual({ [v1]: ['AWSPREVIOUS'], [v2]: ['AWSCURRENT'] });
  });

  it('selects versions by VersionId and VersionStage and names what it cannot find', async () => {
    const v1 = lsm.createSecret('sel', { SecretString: 'a' }).VersionId;
    const v2 = lsm.putSecretValue('sel', { SecretString: 'b' }).VersionId;
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'sel', VersionId: v1 }))).SecretString).toBe('a');
    const both = await sm.send(
      new GetSecretValueCommand({ SecretId: 'sel', VersionId: v2, VersionStage: 'AWSCURRENT' }),
    );
    expect(both.SecretString).toBe('b');

    const noStage = await failure(sm.send(new GetSecretValueCommand({ SecretId: 'sel', VersionStage: 'AWSPENDING' })));
    expect(noStage.name).toBe('ResourceNotFoundException');
    expect(noStage.message).toBe("Secrets Manager can't find the specified secret value for staging label: AWSPENDING");
    const mismatch = await failure(
      sm.send(new GetSecretValueCommand({ SecretId: 'sel', VersionId: v1, VersionStage: 'AWSCURRENT' })),
    );
    expect(mismatch.name).toBe('ResourceNotFoundException');
    const unknownId = await failure(sm.send(new GetSecretValueCommand({ SecretId: 'sel', VersionId: '0'.repeat(32) })));
    expect(unknownId.message).toContain(`VersionId: ${'0'.repeat(32)}`);
  });

  it('uses ClientRequestToken as the VersionId and treats a repeat with the same value as a no-op', async () => {
    lsm.createSecret('idem', { SecretString: 'a' });
    const token = 'c0ffee00-0000-4000-8000-000000000001';
    const first = await sm.send(
      new PutSecretValueCommand({ SecretId: 'idem', SecretString: 'b', ClientRequestToken: token }),
    );
    const again = await sm.send(
      new PutSecretValueCommand({ SecretId: 'idem', SecretString: 'b', ClientRequestToken: token }),
    );
    expect([first.VersionId, again.VersionId]).toEqual([token, token]);
    expect(
      Object.keys((await sm.send(new DescribeSecretCommand({ SecretId: 'idem' }))).VersionIdsToStages!),
    ).toHaveLength(2);

    const changed = await failure(
      sm.send(new PutSecretValueCommand({ SecretId: 'idem', SecretString: 'c', ClientRequestToken: token })),
    );
    expect(changed.name).toBe('ResourceExistsException');
  });

  it('round-trips SecretBinary as bytes', async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    await sm.send(new CreateSecretCommand({ Name: 'bin', SecretBinary: bytes }));
    const read = await sm.send(new GetSecretValueCommand({ SecretId: 'bin' }));
    expect(read.SecretString).toBeUndefined();
    expect(read.SecretBinary).toBeInstanceOf(Uint8Array);
    expect([...read.SecretBinary!]).toEqual([...bytes]);

    lsm.putSecretValue('bin', { SecretBinary: new Uint8Array([1, 2, 3]) });
    expect([...(await sm.send(new GetSecretValueCommand({ SecretId: 'bin' }))).SecretBinary!]).toEqual([1, 2, 3]);
  });

  it('describes a secret and lists secrets with a name filter and pagination', async () => {
    lsm.createSecret('app/a', { SecretString: 'x' }, { description: 'first app' });
    lsm.createSecret('app/b', { SecretString: 'x' });
    lsm.createSecret('other', { SecretString: 'x' });

    const described = await sm.send(new DescribeSecretCommand({ SecretId: 'app/a' }));
    expect(described.Description).toBe('first app');
    expect(described.LastChangedDate).toBeInstanceOf(Date);
    expect(Object.values(described.VersionIdsToStages!)).toEqual([['AWSCURRENT']]);

    const filtered = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['app/'] }] }));
    expect(filtered.SecretList!.map((s) => s.Name)).toEqual(['app/a', 'app/b']);
    expect(filtered.SecretList![0]).toMatchObject({ Description: 'first app', ARN: described.ARN });
    expect(Object.values(filtered.SecretList![0]!.SecretVersionsToStages!)).toEqual([['AWSCURRENT']]);
    const negated = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['!app/'] }] }));
    expect(negated.SecretList!.map((s) => s.Name)).toEqual(['other']);

    const names: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await sm.send(
        new ListSecretsCommand({ MaxResults: 2, ...(nextToken ? { NextToken: nextToken } : {}) }),
      );
      names.push(...page.SecretList!.map((s) => s.Name!));
      nextToken = page.NextToken;
      pages += 1;
    } while (nextToken);
    expect([names, pages]).toEqual([['app/a', 'app/b', 'other'], 2]);
  });

  it('raises errors whose name is the AWS error name', async () => {
    lsm.createSecret('exists', { SecretString: 'x' });

    const notFound = await failure(sm.send(new GetSecretValueCommand({ SecretId: 'missing' })));
    expect([notFound.name, notFound.message]).toEqual([
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret.",
    ]);
    expect(notFound.$metadata?.httpStatusCode).toBe(400);

    const exists = await failure(sm.send(new CreateSecretCommand({ Name: 'exists', SecretString: 'y' })));
    expect(exists.name).toBe('ResourceExistsException');

    const bothValues = await failure(
      sm.send(new PutSecretValueCommand({ SecretId: 'exists', SecretString: 'y', SecretBinary: new Uint8Array([1]) })),
    );
    expect(bothValues.name).toBe('InvalidParameterException');
    const noValue = await failure(sm.send(new PutSecretValueCommand({ SecretId: 'exists' })));
    expect([noValue.name, noValue.message]).toEqual([
      'InvalidRequestException',
      'You must provide either SecretString or SecretBinary.',
    ]);
    const badName = await failure(sm.send(new CreateSecretCommand({ Name: 'has space', SecretString: 'y' })));
    expect(badName.name).toBe('InvalidParameterException');
    const noId = await failure(sm.send(new GetSecretValueCommand({ SecretId: undefined })));
    expect(noId.name).toBe('ValidationException');
    expect(noId.message).toContain("'secretId'");
  });

  it('schedules a deletion that blocks reads and listing, and force-deletes at once', async () => {
    lsm.createSecret('doomed', { SecretString: 'x' });
    const deleted = await sm.send(new DeleteSecretCommand({ SecretId: 'doomed', RecoveryWindowInDays: 7 }));
    expect(deleted.DeletionDate!.getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000);

    const read = await failure(sm.send(new GetSecretValueCommand({ SecretId: 'doomed' })));
    expect(read.name).toBe('InvalidRequestException');
    expect((await sm.send(new DescribeSecretCommand({ SecretId: 'doomed' }))).DeletedDate).toBeInstanceOf(Date);
    expect((await sm.send(new ListSecretsCommand({}))).SecretList).toEqual([]);
    expect((await sm.send(new ListSecretsCommand({ IncludePlannedDeletion: true }))).SecretList).toHaveLength(1);

    await sm.send(new DeleteSecretCommand({ SecretId: 'doomed', ForceDeleteWithoutRecovery: true }));
    expect((await failure(sm.send(new DescribeSecretCommand({ SecretId: 'doomed' })))).name).toBe(
      'ResourceNotFoundException',
    );
    await sm.send(new CreateSecretCommand({ Name: 'doomed', SecretString: 'again' }));
  });
});

describe('local Secrets Manager wire protocol', () => {
  it('answers an unknown X-Amz-Target with UnknownOperationException in body and header', async () => {
    const res = await rawCall('secretsmanager.FlyToTheMoon', '{}');
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    expect(res.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(((await res.json()) as { __type: string }).__type).toBe('UnknownOperationException');
  });

  it('answers malformed JSON with SerializationException', async () => {
    const res = await rawCall('secretsmanager.GetSecretValue', '{"SecretId": ');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ __type: 'SerializationException' });
  });

  it('refuses a body over 1 MiB with 413', async () => {
    const res = await rawCall(
      'secretsmanager.CreateSecret',
      JSON.stringify({ Name: 'big', SecretString: 'x'.repeat(1_100_000) }),
    );
    expect(res.status).toBe(413);
    expect(lsm.requests.at(-1)).toMatchObject({ operation: 'CreateSecret', status: 413 });
    expect(lsm.countRequests()).toBe(1);
  });
});

describe('local Secrets Manager fault injection and recording', () => {
  it('throttles the next request with ThrottlingException and lets default retries recover', async () => {
    lsm.createSecret('t', { SecretString: 'x' });
    lsm.setFaults({ throttle: 1 });
    const throttled = await failure(client({ maxAttempts: 1 }).send(new GetSecretValueCommand({ SecretId: 't' })));
    expect([throttled.name, throttled.message, throttled.$metadata?.httpStatusCode]).toEqual([
      'ThrottlingException',
      'Rate exceeded',
      400,
    ]);

    lsm.setFaults({ throttle: 1 });
    lsm.resetRequests();
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 't' }))).SecretString).toBe('x');
    expect(lsm.requests.map((r) => [r.status, r.errorType])).toEqual([
      [400, 'ThrottlingException'],
      [200, undefined],
    ]);
  });

  it('answers InternalServiceError with HTTP 500 for the next N requests', async () => {
    lsm.createSecret('s', { SecretString: 'x' });
    lsm.setFaults({ serverError: 2 });
    const once = client({ maxAttempts: 1 });
    const error = await failure(once.send(new GetSecretValueCommand({ SecretId: 's' })));
    expect([error.name, error.$fault, error.$metadata?.httpStatusCode]).toEqual([
      'InternalServiceError',
      'server',
      500,
    ]);
    await failure(once.send(new GetSecretValueCommand({ SecretId: 's' })));
    expect((await once.send(new GetSecretValueCommand({ SecretId: 's' }))).SecretString).toBe('x');
  });

  it('delays answers by latencyMs until cleared', async () => {
    lsm.createSecret('slow', { SecretString: 'x' });
    lsm.setFaults({ latencyMs: 300 });
    let started = performance.now();
    await sm.send(new GetSecretValueCommand({ SecretId: 'slow' }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);

    lsm.clearFaults();
    started = performance.now();
    await sm.send(new GetSecretValueCommand({ SecretId: 'slow' }));
    expect(performance.now() - started).toBeLessThan(290);
  });

  it('drops the connection without answering while down', async () => {
    lsm.createSecret('d', { SecretString: 'x' });
    lsm.setFaults({ down: true });
    const error = await failure(client({ maxAttempts: 1 }).send(new GetSecretValueCommand({ SecretId: 'd' })));
    expect(error.$metadata?.httpStatusCode).toBeUndefined();
    expect(lsm.requests.at(-1)).toMatchObject({ operation: 'GetSecretValue', status: 0 });

    lsm.clearFaults();
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'd' }))).SecretString).toBe('x');
  });

  it('applies faults only to the listed operations', async () => {
    lsm.createSecret('f', { SecretString: 'x' });
    lsm.setFaults({ throttle: Infinity, operations: ['GetSecretValue'] });
    const once = client({ maxAttempts: 1 });
    expect((await once.send(new DescribeSecretCommand({ SecretId: 'f' }))).Name).toBe('f');
    expect((await failure(once.send(new GetSecretValueCommand({ SecretId: 'f' })))).name).toBe('ThrottlingException');
    expect((await failure(once.send(new GetSecretValueCommand({ SecretId: 'f' })))).name).toBe('ThrottlingException');
  });

  it('records operation, secret id and access key id of each HTTP request, not of in-process helpers', async () => {
    lsm.createSecret('r', { SecretString: 'x' });
    lsm.putSecretValue('r', { SecretString: 'y' });
    await sm.send(new GetSecretValueCommand({ SecretId: 'r' }));
    await client({ accessKeyId: 'AKIDOTHER' }).send(new DescribeSecretCommand({ SecretId: 'r' }));
    await failure(sm.send(new GetSecretValueCommand({ SecretId: 'nope' })));

    expect(lsm.requests).toEqual([
      { operation: 'GetSecretValue', secretId: 'r', accessKeyId: 'AKIDTEST', status: 200 },
      { operation: 'DescribeSecret', secretId: 'r', accessKeyId: 'AKIDOTHER', status: 200 },
      {
        operation: 'GetSecretValue',
        secretId: 'nope',
        accessKeyId: 'AKIDTEST',
        status: 400,
        errorType: 'ResourceNotFoundException',
      },
    ]);
    expect([lsm.countRequests(), lsm.countRequests('GetSecretValue'), lsm.countRequests('ListSecrets')]).toEqual([
      3, 2, 0,
    ]);
    lsm.resetRequests();
    expect(lsm.requests).toEqual([]);
  });

  it('closes with a request in flight by destroying its socket', async () => {
    lsm.createSecret('c', { SecretString: 'x' });
    lsm.setFaults({ latencyMs: 10_000 });
    const pending = failure(client({ maxAttempts: 1 }).send(new GetSecretValueCommand({ SecretId: 'c' })));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    await lsm.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((await pending).$metadata?.httpStatusCode).toBeUndefined();
  });
});

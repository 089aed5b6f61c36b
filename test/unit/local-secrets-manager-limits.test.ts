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
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defaultStoreLimits,
  MAX_VALUE_BYTES,
  startLocalSecretsManager,
} from '../support/local-secrets-manager/index.js';
import type { LocalSecretsManager, StoreLimits } from '../support/local-secrets-manager/index.js';

/**
 * The endpoint holds a bounded number of secrets, versions and labels, values of at most 65,536
 * bytes, and forgets a value with its version or secret, so a long-running demo cannot grow without
 * end. Past a bound a call fails and changes nothing.
 */
let lsm: LocalSecretsManager | undefined;
let sm: SecretsManagerClient | undefined;

async function start(
  limits: Partial<StoreLimits> = {},
): Promise<{ lsm: LocalSecretsManager; sm: SecretsManagerClient }> {
  lsm = await startLocalSecretsManager({ limits });
  sm = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: lsm.url,
    credentials: lsm.credentials,
    maxAttempts: 1,
  });
  return { lsm, sm };
}

afterEach(async () => {
  sm?.destroy();
  await lsm?.close();
  lsm = undefined;
  sm = undefined;
});

const value = (): string => randomBytes(12).toString('base64url');

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: Error) => e,
  );
  if (!error) throw new Error('expected the call to fail');
  return error;
}

describe('the local Secrets Manager holds a bounded amount (issue 19, section 1)', () => {
  it('has defaults of 100 secrets, 5 versions and 20 labels per secret, and 65,536-byte values', () => {
    expect(defaultStoreLimits).toEqual({ maxSecrets: 100, maxVersionsPerSecret: 5, maxLabelsPerSecret: 20 });
    expect(MAX_VALUE_BYTES).toBe(65_536);
  });

  it('refuses a secret past the cap with LimitExceededException, creating nothing, and takes one again once one is deleted', async () => {
    const { lsm, sm } = await start({ maxSecrets: 3 });
    for (const name of ['a', 'b', 'c']) await sm.send(new CreateSecretCommand({ Name: name, SecretString: value() }));
    const refused = value();
    const error = await failure(sm.send(new CreateSecretCommand({ Name: 'd', SecretString: refused })));
    expect(error.name).toBe('LimitExceededException');
    expect(error.message).toContain('maximum number of secrets (3)');
    expect((await sm.send(new ListSecretsCommand({}))).SecretList?.map((s) => s.Name)).toEqual(['a', 'b', 'c']);
    expect(lsm.heldValues()).not.toContain(refused);
    // A secret scheduled for deletion still holds its values, so it still counts.
    await sm.send(new DeleteSecretCommand({ SecretId: 'a', RecoveryWindowInDays: 7 }));
    expect((await failure(sm.send(new CreateSecretCommand({ Name: 'd', SecretString: refused })))).name).toBe(
      'LimitExceededException',
    );
    await sm.send(new DeleteSecretCommand({ SecretId: 'b', ForceDeleteWithoutRecovery: true }));
    await sm.send(new CreateSecretCommand({ Name: 'd', SecretString: refused }));
    expect(lsm.stats().secrets).toBe(3);
  });

  it('takes a value of 65,536 bytes and refuses one byte more, counting bytes, not characters', async () => {
    const { lsm, sm } = await start();
    await sm.send(new CreateSecretCommand({ Name: 'max', SecretString: 'x'.repeat(MAX_VALUE_BYTES) }));
    expect(lsm.stats().valueBytes).toBe(MAX_VALUE_BYTES);
    for (const [name, text] of [
      ['over', 'x'.repeat(MAX_VALUE_BYTES + 1)],
      ['wide', '\u20ac'.repeat(30_000)],
    ] as const) {
      const error = await failure(sm.send(new CreateSecretCommand({ Name: name, SecretString: text })));
      expect({ name, error: error.name }).toEqual({ name, error: 'ValidationException' });
      expect((await failure(sm.send(new PutSecretValueCommand({ SecretId: 'max', SecretString: text })))).name).toBe(
        'ValidationException',
      );
    }
    expect(
      (
        await failure(
          sm.send(new PutSecretValueCommand({ SecretId: 'max', SecretBinary: new Uint8Array(MAX_VALUE_BYTES + 1) })),
        )
      ).name,
    ).toBe('ValidationException');
    expect(lsm.stats()).toEqual({ secrets: 1, versions: 1, valueBytes: MAX_VALUE_BYTES });
  });

  it('keeps at most 5 versions of a secret, dropping the oldest unlabelled ones and their values', async () => {
    const { lsm, sm } = await start();
    const values = Array.from({ length: 30 }, value);
    await sm.send(new CreateSecretCommand({ Name: 'busy', SecretString: values[0] }));
    for (const next of values.slice(1))
      await sm.send(new PutSecretValueCommand({ SecretId: 'busy', SecretString: next }));
    expect(lsm.stats().versions).toBe(5);
    expect(lsm.heldValues()).toEqual(values.slice(-5));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: 'busy' }))).SecretString).toBe(values.at(-1));
    expect(
      (await sm.send(new GetSecretValueCommand({ SecretId: 'busy', VersionStage: 'AWSPREVIOUS' }))).SecretString,
    ).toBe(values.at(-2));
  });

  it('refuses a version past the cap when every version has a label, and leaves the labels as they were', async () => {
    const { lsm, sm } = await start({ maxVersionsPerSecret: 3 });
    const created = await sm.send(new CreateSecretCommand({ Name: 'labelled', SecretString: value() }));
    const pending = await sm.send(
      new PutSecretValueCommand({ SecretId: 'labelled', SecretString: value(), VersionStages: ['AWSPENDING'] }),
    );
    const custom = await sm.send(
      new PutSecretValueCommand({ SecretId: 'labelled', SecretString: value(), VersionStages: ['custom'] }),
    );
    const before = (await sm.send(new DescribeSecretCommand({ SecretId: 'labelled' }))).VersionIdsToStages;
    expect(before).toEqual({
      [created.VersionId!]: ['AWSCURRENT'],
      [pending.VersionId!]: ['AWSPENDING'],
      [custom.VersionId!]: ['custom'],
    });
    const refused = value();
    const error = await failure(sm.send(new PutSecretValueCommand({ SecretId: 'labelled', SecretString: refused })));
    expect(error.name).toBe('LimitExceededException');
    expect((await sm.send(new DescribeSecretCommand({ SecretId: 'labelled' }))).VersionIdsToStages).toEqual(before);
    expect(lsm.heldValues()).not.toContain(refused);
    expect(lsm.stats().versions).toBe(3);
  });

  it('refuses a staging label past 20 per secret with LimitExceededException', async () => {
    const { sm } = await start();
    const created = await sm.send(new CreateSecretCommand({ Name: 'tags', SecretString: value() }));
    for (let i = 1; i < 20; i++) {
      await sm.send(
        new UpdateSecretVersionStageCommand({
          SecretId: 'tags',
          VersionStage: `label-${i}`,
          MoveToVersionId: created.VersionId,
        }),
      );
    }
    const error = await failure(
      sm.send(
        new UpdateSecretVersionStageCommand({
          SecretId: 'tags',
          VersionStage: 'label-20',
          MoveToVersionId: created.VersionId,
        }),
      ),
    );
    expect(error.name).toBe('LimitExceededException');
    expect(
      (await sm.send(new DescribeSecretCommand({ SecretId: 'tags' }))).VersionIdsToStages?.[created.VersionId!],
    ).toHaveLength(20);
  });

  it('forgets every value of a force-deleted secret: nothing held, and a secret created again under its name has none of its versions', async () => {
    const { lsm, sm } = await start();
    const old = Array.from({ length: 4 }, value);
    await sm.send(new CreateSecretCommand({ Name: 'gone', SecretString: old[0] }));
    for (const next of old.slice(1)) await sm.send(new PutSecretValueCommand({ SecretId: 'gone', SecretString: next }));
    await sm.send(new DeleteSecretCommand({ SecretId: 'gone', ForceDeleteWithoutRecovery: true }));
    expect(lsm.stats()).toEqual({ secrets: 0, versions: 0, valueBytes: 0 });
    expect(lsm.heldValues()).toEqual([]);
    const fresh = value();
    const created = await sm.send(new CreateSecretCommand({ Name: 'gone', SecretString: fresh }));
    expect((await sm.send(new DescribeSecretCommand({ SecretId: 'gone' }))).VersionIdsToStages).toEqual({
      [created.VersionId!]: ['AWSCURRENT'],
    });
    expect(
      (await failure(sm.send(new GetSecretValueCommand({ SecretId: 'gone', VersionStage: 'AWSPREVIOUS' })))).name,
    ).toBe('ResourceNotFoundException');
    expect(lsm.heldValues()).toEqual([fresh]);
  });
});

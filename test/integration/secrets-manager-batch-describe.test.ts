import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASK } from '../../src/masking/index.js';
import { postgresIntegration } from '../support/config-dir.js';
import { query, rdsSecret, status } from '../support/integration-probes.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const alpha = 'a9Qw3Er7TyUiOp2Lk';
const beta = 'b4Zx8Cv2BnMq6Wd';

/** Runs `call` and answers its result, or the error's name and message. */
const trying = (call: string) => `
  try { return { ok: await (${call}) }; }
  catch (e) { return { name: e.name, message: e.message }; }`;

describe('aws.secretsManager.batchGetSecretValue and describeSecret (issue 14, section 6)', () => {
  let t: TestAgent;
  let db: TestDatabase;
  /** Whole seconds, as the service's dates are. */
  const nextRotation = Math.ceil(Date.now() / 1000) * 1000 + 120_000;

  const run = (name: string, params: Record<string, unknown> = {}, reveal = false) =>
    t.request('POST', `/api/v1/workflows/${name}/run`, { params, ...(reveal ? { reveal } : {}) });

  beforeAll(async () => {
    db = await createTestDatabase('smx');
    t = await startTestAgent({
      workflows: {
        batch: {
          name: 'batch',
          allowedSecrets: ['app/*'],
          steps: [
            { name: 'fetch', code: trying('aws.secretsManager.batchGetSecretValue({ SecretIdList: params.ids })') },
          ],
        },
        describe: {
          name: 'describe',
          allowedSecrets: ['app/*', 'rotating'],
          steps: [{ name: 'fetch', code: trying('aws.secretsManager.describeSecret({ SecretId: params.id })') }],
        },
        // The rotation date shortens the cache lifetime through the response's own expiresAt.
        untilRotation: {
          name: 'untilRotation',
          steps: [
            {
              name: 'fetch',
              code: `const d = await aws.secretsManager.describeSecret({ SecretId: 'rotating' });
                const r = await aws.secretsManager.getSecretValue({ SecretId: 'rotating' });
                return { ...JSON.parse(r.SecretString), expiresAt: d.NextRotationDate };`,
            },
          ],
        },
      },
      integrations: {
        rotating: { ...postgresIntegration('rotating', 'untilRotation'), connection: connection('untilRotation') },
      },
    });
    t.secrets.createSecret('app/alpha', { SecretString: alpha });
    t.secrets.createSecret('app/beta', { SecretString: JSON.stringify({ password: beta }) });
    t.secrets.createSecret('other/gamma', { SecretString: 'g7Hj2Kl9Zx4Cv8Bn' });
    t.secrets.createSecret('rotating', rdsSecret(db));
    t.secrets.setRotation('rotating', {
      enabled: true,
      lastRotatedDate: nextRotation - 86_400_000,
      nextRotationDate: nextRotation,
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('reads several secrets in one bridge call, masked, with each refusal an entry of Errors', async () => {
    const before = t.secrets.countRequests('BatchGetSecretValue');
    const res = await run('batch', { ids: ['app/alpha', 'app/none', 'other/gamma', 'app/beta'] });
    expect(res.status).toBe(200);
    const { SecretValues, Errors } = res.body.response.ok;
    // Under a key with "Secret" in it (SecretValues), a preview masks every string, names included;
    // SecretId is AWS's name of a secret, shown as Name is.
    expect(SecretValues.map((v: { Name: string; SecretString: string }) => [v.Name, v.SecretString])).toEqual([
      [MASK, MASK],
      [MASK, MASK],
    ]);
    expect(Errors).toEqual([
      {
        SecretId: 'other/gamma',
        ErrorCode: 'AccessDeniedException',
        Message: 'workflow "batch" may not read the secret "other/gamma": it is not in the workflow\'s allowedSecrets',
      },
      { SecretId: 'app/none', ErrorCode: 'ResourceNotFoundException', Message: expect.any(String) },
    ]);
    // One request to the store, which was not asked for the refused id.
    expect(t.secrets.countRequests('BatchGetSecretValue') - before).toBe(1);
    expect(t.secrets.requests.some((r) => r.secretId === 'other/gamma')).toBe(false);

    const revealed = await run('batch', { ids: ['app/alpha', 'app/beta'] }, true);
    expect(
      revealed.body.response.ok.SecretValues.map((v: { Name: string; SecretString: string }) => [
        v.Name,
        v.SecretString,
      ]),
    ).toEqual([
      ['app/alpha', alpha],
      ['app/beta', JSON.stringify({ password: beta })],
    ]);
  });

  it('asks the store nothing when every id is refused', async () => {
    const before = t.secrets.countRequests('BatchGetSecretValue');
    const res = await run('batch', { ids: ['other/gamma'] });
    expect(res.body.response.ok.SecretValues).toEqual([]);
    expect(res.body.response.ok.Errors.map((e: { ErrorCode: string }) => e.ErrorCode)).toEqual([
      'AccessDeniedException',
    ]);
    expect(t.secrets.countRequests('BatchGetSecretValue')).toBe(before);
    const tooMany = await run('batch', { ids: Array.from({ length: 21 }, (_, i) => `app/${i}`) });
    expect(tooMany.body.response.name).toBe('InvalidParameterException');
    expect(tooMany.body.response.message).toContain('SecretIdList');
  });

  it('describes a secret’s rotation: RotationEnabled, NextRotationDate, LastRotatedDate, VersionIdsToStages', async () => {
    const res = await run('describe', { id: 'rotating' });
    expect(res.body.response.ok).toMatchObject({
      Name: 'rotating',
      RotationEnabled: true,
      NextRotationDate: new Date(nextRotation).toISOString(),
      LastRotatedDate: new Date(nextRotation - 86_400_000).toISOString(),
    });
    expect(Object.values(res.body.response.ok.VersionIdsToStages)).toEqual([['AWSCURRENT']]);
    const plain = await run('describe', { id: 'app/alpha' });
    expect(plain.body.response.ok.RotationEnabled).toBe(false);
    expect(plain.body.response.ok.NextRotationDate).toBeUndefined();
    expect((await run('describe', { id: 'other/gamma' })).body.response.name).toBe('AccessDeniedException');
    expect((await run('describe', { id: 'app/none' })).body.response.name).toBe('ResourceNotFoundException');
  });

  it('caches credentials no longer than the secret’s NextRotationDate when the step returns it as expiresAt', async () => {
    expect((await query(t, 'rotating', 'SELECT 1 AS one')).status).toBe(200);
    const { body } = await status(t, 'rotating');
    expect(body.cached).toBe(true);
    expect(Date.parse(body.expiresAt)).toBe(nextRotation);
  });

  it('counts both operations in credflow_bridge_calls_total', async () => {
    const text = (await t.request('GET', '/metrics')).text;
    expect(text).toMatch(
      /^credflow_bridge_calls_total\{store="secretsmanager",operation="BatchGetSecretValue",outcome="ok"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^credflow_bridge_calls_total\{store="secretsmanager",operation="DescribeSecret",outcome="AccessDeniedException"\} 1$/m,
    );
  });
});

function connection(workflow: string): Record<string, string> {
  return {
    host: `<<${workflow}.response.host>>`,
    port: `<<${workflow}.response.port>>`,
    database: `<<${workflow}.response.dbname>>`,
    user: `<<${workflow}.response.username>>`,
    password: `<<${workflow}.response.password>>`,
  };
}

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roleArnOf } from '../support/local-secrets-manager/index.js';
import { startTestAgent, testAgentAwsCredentials, type TestAgent } from '../support/start-test-agent.js';

// Issue 14, section 2: bridge calls that name roleArn are made with the role's temporary credentials.

const roleValue = 'role-only-value-7Hq2Lx9Vb4Nc';
const otherValue = 'agent-only-value-Zt5Pw8Rk3Ym6';
const reader = 'reader';
const partner = 'partner';
const partnerExternalId = 'credflow-ext-4412';

/** A step that reads params.secretId as params asks (roleArn, externalId, sessionName), and answers the outcome. */
const readAs = {
  name: 'read',
  code: `
    const { secretId, ...identity } = params;
    try {
      const r = await aws.secretsManager.getSecretValue({ SecretId: secretId, ...identity });
      return { keys: Object.keys(r).sort(), value: r.SecretString, whole: JSON.stringify(r) };
    } catch (e) {
      return { error: e.name, message: e.message };
    }`,
};

const workflow = (name: string, allowedRoles?: string[]) => ({
  name,
  ...(allowedRoles ? { allowedRoles } : {}),
  steps: [readAs],
});

/** The workflows every agent here serves: allowed the reader and partner roles, allowed other roles only, and unset. */
const workflows = {
  viaRole: workflow('viaRole', [roleArnOf(reader), roleArnOf(partner), `${roleArnOf('chain')}*`]),
  otherRoles: workflow('otherRoles', [roleArnOf('someone-else-*')]),
  noRoles: workflow('noRoles'),
};

/** The error a promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error as Error,
  );
}

async function run(t: TestAgent, name: string, params: Record<string, unknown>, reveal = false) {
  const res = await t.request('POST', `/api/v1/workflows/${name}/run`, { params, ...(reveal ? { reveal } : {}) });
  expect(res.status, res.text).toBe(200);
  return res.body.response as { keys?: string[]; value?: string; whole?: string; error?: string; message?: string };
}

describe('STS AssumeRole for AWS bridge calls (issue 14, section 2)', () => {
  let t: TestAgent;

  beforeAll(async () => {
    t = await startTestAgent({ workflows }, {}, { assumeRoleDurationSeconds: 60 });
    t.secrets.createSecret('team/role-only', { SecretString: roleValue });
    t.secrets.createSecret('team/agent-only', { SecretString: otherValue });
    t.secrets.defineRole({ name: reader, secrets: ['team/role-only'] });
    t.secrets.defineRole({ name: partner, secrets: ['team/role-only'], externalId: partnerExternalId });
    for (const name of ['chain-1', 'chain-2']) t.secrets.defineRole({ name, secrets: ['team/role-only'] });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('reads a secret with the role’s temporary credentials, which the step never sees', async () => {
    const before = t.secrets.requests.length;
    const out = await run(t, 'viaRole', { secretId: 'team/role-only', roleArn: roleArnOf(reader) }, true);
    expect(out.value).toBe(roleValue);
    expect(out.keys).toEqual(['ARN', 'Name', 'SecretString', 'VersionId', 'VersionStages']);
    const calls = t.secrets.requests.slice(before);
    expect(calls.map((c) => [c.operation, c.status])).toEqual([
      ['AssumeRole', 200],
      ['GetSecretValue', 200],
    ]);
    expect(calls[0]!.accessKeyId).toBe(testAgentAwsCredentials.accessKeyId);
    // The read was signed by the session's key, not the agent's.
    expect(calls[1]!.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(out.whole).not.toContain(calls[1]!.accessKeyId);
  });

  it('is refused what the role may not read, although the agent itself may read it', async () => {
    const out = await run(t, 'viaRole', { secretId: 'team/agent-only', roleArn: roleArnOf(reader) });
    expect(out.error).toBe('AccessDeniedException');
    expect(out.message).toContain(`assumed-role/${reader}/credflow`);
    const own = await run(t, 'noRoles', { secretId: 'team/agent-only' }, true);
    expect(own.value).toBe(otherValue);
  });

  it('refuses a role outside allowedRoles, and any role to a workflow without allowedRoles, before calling STS', async () => {
    const before = t.secrets.countRequests('AssumeRole');
    const other = await run(t, 'otherRoles', { secretId: 'team/role-only', roleArn: roleArnOf(reader) });
    expect(other).toEqual({
      error: 'AccessDenied',
      message: `workflow "otherRoles" may not assume the role "${roleArnOf(reader)}": it is not in the workflow's allowedRoles`,
    });
    const none = await run(t, 'noRoles', { secretId: 'team/role-only', roleArn: roleArnOf(reader) });
    expect(none.error).toBe('AccessDenied');
    expect(t.secrets.countRequests('AssumeRole')).toBe(before);
  });

  it('answers STS’s AccessDenied when the external id does not match, and reads with the right one', async () => {
    for (const externalId of [undefined, 'credflow-ext-wrong']) {
      const out = await run(t, 'viaRole', {
        secretId: 'team/role-only',
        roleArn: roleArnOf(partner),
        ...(externalId ? { externalId } : {}),
      });
      expect(out.error).toBe('AccessDenied');
      expect(out.message).toContain(`sts:AssumeRole on resource: ${roleArnOf(partner)}`);
    }
    const ok = await run(
      t,
      'viaRole',
      { secretId: 'team/role-only', roleArn: roleArnOf(partner), externalId: partnerExternalId },
      true,
    );
    expect(ok.value).toBe(roleValue);
  });

  it('checks roleArn, externalId and sessionName as arguments, naming the field', async () => {
    const bad = await run(t, 'viaRole', { secretId: 'team/role-only', roleArn: 'reader' });
    expect(bad.error).toBe('InvalidParameterException');
    expect(bad.message).toContain('roleArn: must be an IAM role ARN');
    const orphan = await run(t, 'viaRole', { secretId: 'team/role-only', externalId: partnerExternalId });
    expect(orphan).toEqual({
      error: 'InvalidParameterException',
      message: 'getSecretValue: externalId and sessionName need roleArn',
    });
  });

  it('assumes a role once for many runs, and once for many concurrent runs (single-flight)', async () => {
    const arn = roleArnOf('chain-1');
    const before = t.secrets.countRequests('AssumeRole');
    for (let i = 0; i < 3; i++) {
      expect((await run(t, 'viaRole', { secretId: 'team/role-only', roleArn: arn }, true)).value).toBe(roleValue);
    }
    expect(t.secrets.countRequests('AssumeRole')).toBe(before + 1);
    // Another session name is another cache entry: eight runs at once share its one AssumeRole.
    const outs = await Promise.all(
      Array.from({ length: 8 }, () =>
        run(t, 'viaRole', { secretId: 'team/role-only', roleArn: arn, sessionName: 'burst' }, true),
      ),
    );
    expect(outs.map((o) => o.value)).toEqual(Array.from({ length: 8 }, () => roleValue));
    expect(t.secrets.countRequests('AssumeRole')).toBe(before + 2);
    // The session name reaches STS: the role's refusal names it.
    const named = await run(t, 'viaRole', { secretId: 'team/agent-only', roleArn: arn, sessionName: 'burst' });
    expect(named.message).toContain('assumed-role/chain-1/burst');
  });

  it('never shows the temporary credentials, not even in revealed responses or step errors', async () => {
    await run(t, 'viaRole', { secretId: 'team/agent-only', roleArn: roleArnOf(reader) });
    // Every key and session token the endpoint minted (close() also searches every log line and
    // every other response for them, and for the secrets).
    const minted = t.storedValues().filter((value) => value !== roleValue && value !== otherValue);
    expect(minted.length).toBeGreaterThanOrEqual(8);
    const everything = [...t.bodies, ...t.revealed].join('\n');
    for (const value of minted) expect(everything).not.toContain(value);
  });

  it('counts each call in credflow_bridge_calls_total by outcome, STS’s and Secrets Manager’s names kept', async () => {
    const res = await t.request('GET', '/metrics');
    const line = (outcome: string) =>
      `credflow_bridge_calls_total{store="secretsmanager",operation="GetSecretValue",outcome="${outcome}"}`;
    expect(res.text).toContain(line('ok'));
    expect(res.text).toContain(line('AccessDenied'));
    expect(res.text).toContain(line('AccessDeniedException'));
    expect(res.text).toContain(line('InvalidParameterException'));
  });
});

describe('temporary credentials expire', () => {
  let t: TestAgent;

  beforeAll(async () => {
    // The local endpoint accepts DurationSeconds down to 1 (AWS's minimum is 900).
    t = await startTestAgent({ workflows }, {}, { assumeRoleDurationSeconds: 2 });
    t.secrets.createSecret('team/role-only', { SecretString: roleValue });
    t.secrets.defineRole({ name: reader, secrets: ['team/role-only'] });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('assumes the role again once the cached credentials are near expiry, never using expired ones', async () => {
    const params = { secretId: 'team/role-only', roleArn: roleArnOf(reader) };
    expect((await run(t, 'viaRole', params, true)).value).toBe(roleValue);
    expect(t.secrets.countRequests('AssumeRole')).toBe(1);
    // Past the first session's expiry (2 s, counted from a whole second).
    await sleep(2_100);
    expect((await run(t, 'viaRole', params, true)).value).toBe(roleValue);
    expect(t.secrets.countRequests('AssumeRole')).toBe(2);
    const reads = t.secrets.requests.filter((r) => r.operation === 'GetSecretValue');
    expect(reads.map((r) => r.status)).toEqual([200, 200]);
    expect(reads[0]!.accessKeyId).not.toBe(reads[1]!.accessKeyId);
  });

  it('has the local Secrets Manager refuse an expired session with ExpiredTokenException, and a missing token', async () => {
    const sts = new STSClient({ region: 'us-east-1', endpoint: t.secrets.url, credentials: testAgentAwsCredentials });
    const out = await sts.send(
      new AssumeRoleCommand({ RoleArn: roleArnOf(reader), RoleSessionName: 'probe', DurationSeconds: 1 }),
    );
    sts.destroy();
    const c = out.Credentials!;
    const client = (sessionToken?: string) =>
      new SecretsManagerClient({
        region: 'us-east-1',
        endpoint: t.secrets.url,
        credentials: {
          accessKeyId: c.AccessKeyId!,
          secretAccessKey: c.SecretAccessKey!,
          ...(sessionToken ? { sessionToken } : {}),
        },
      });
    const noToken = client();
    expect((await rejection(noToken.send(new GetSecretValueCommand({ SecretId: 'team/role-only' })))).name).toBe(
      'UnrecognizedClientException',
    );
    noToken.destroy();
    await sleep(Math.max(0, c.Expiration!.getTime() - Date.now()) + 50);
    const expired = client(c.SessionToken);
    const error = await rejection(expired.send(new GetSecretValueCommand({ SecretId: 'team/role-only' })));
    expired.destroy();
    expect(error.name).toBe('ExpiredTokenException');
  });
});

describe('the agent’s own identity from the standard AWS chain', () => {
  const profileKeys = { accessKeyId: 'AKIDPROFILE', secretAccessKey: 'pRofile9Secret4Key2Xw7Qz5Lm8Nb3Vc6Td1' };
  const envKeys = { accessKeyId: 'AKIDENVIRON', secretAccessKey: 'eNviron3Secret8Key5Hq2Wz7Lp4Mx9Rb6Tc1' };
  let dir: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-aws-'));
    await writeFile(
      path.join(dir, 'credentials'),
      `[credflow-test]\naws_access_key_id = ${profileKeys.accessKeyId}\naws_secret_access_key = ${profileKeys.secretAccessKey}\n`,
    );
    await writeFile(path.join(dir, 'config'), '[profile credflow-test]\nregion = us-east-1\n');
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
      delete process.env[name];
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
    process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
    // No instance metadata here: the chain must not wait on 169.254.169.254.
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
  });

  afterAll(async () => {
    process.env = saved;
    await rm(dir, { recursive: true, force: true });
  });

  /** An agent configured with no credentials, whose role trusts only `caller`; answers which key signed AssumeRole. */
  async function assumeWith(caller: string): Promise<{ value: string | undefined; signer: string | undefined }> {
    const t = await startTestAgent(
      { workflows },
      {},
      { agentCredentials: 'default-chain', awsCredentials: [profileKeys, envKeys] },
    );
    try {
      t.secrets.createSecret('team/role-only', { SecretString: roleValue });
      t.secrets.defineRole({ name: reader, secrets: ['team/role-only'], trusted: [caller] });
      const out = await run(t, 'viaRole', { secretId: 'team/role-only', roleArn: roleArnOf(reader) }, true);
      const signer = t.secrets.requests.find((r) => r.operation === 'AssumeRole')?.accessKeyId;
      return { value: out.value ?? out.error, signer };
    } finally {
      await t.close();
    }
  }

  it('assumes the role as AWS_PROFILE’s credentials from the shared credentials file', async () => {
    process.env.AWS_PROFILE = 'credflow-test';
    expect(await assumeWith(profileKeys.accessKeyId)).toEqual({ value: roleValue, signer: profileKeys.accessKeyId });
  });

  it('assumes the role as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment when no AWS_PROFILE is set', async () => {
    delete process.env.AWS_PROFILE;
    process.env.AWS_ACCESS_KEY_ID = envKeys.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = envKeys.secretAccessKey;
    try {
      expect(await assumeWith(envKeys.accessKeyId)).toEqual({ value: roleValue, signer: envKeys.accessKeyId });
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });

  it('follows AWS_PROFILE over key variables when both are set, as the pinned AWS SDK does (docs/operations.md)', async () => {
    process.env.AWS_PROFILE = 'credflow-test';
    process.env.AWS_ACCESS_KEY_ID = envKeys.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = envKeys.secretAccessKey;
    try {
      expect(await assumeWith(profileKeys.accessKeyId)).toEqual({ value: roleValue, signer: profileKeys.accessKeyId });
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });
});

import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLocalSecretsManager } from '../support/local-secrets-manager/index.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager/index.js';
import { rawAwsCall } from '../support/aws-raw-call.js';
import type { RawAwsCall } from '../support/aws-raw-call.js';

/**
 * The demo's Secrets Manager endpoint listens on the machine, where other local users can reach it:
 * every request must be signed (SigV4) with the key pair it was started with and name it as Host.
 */
const password = 'Vq8-zL2r_Kw9xT4n';
const forged = JSON.stringify({
  engine: 'postgres',
  host: '127.0.0.1',
  port: 1,
  username: 'u',
  password: 'Fj3kQ9wZp2Lx',
});

let lsm: LocalSecretsManager;

beforeEach(async () => {
  lsm = await startLocalSecretsManager();
  lsm.createSecret('postgresSecrets', { SecretString: JSON.stringify({ engine: 'postgres', password }) });
});

afterEach(async () => {
  await lsm.close();
});

const get = JSON.stringify({ SecretId: 'postgresSecrets' });
const put = JSON.stringify({ SecretId: 'postgresSecrets', SecretString: forged });
const create = JSON.stringify({ Name: 'planted', SecretString: forged });

async function refusal(
  call: RawAwsCall,
): Promise<{ status: number; type: string | null; body: { __type?: string; message?: string } }> {
  const res = await rawAwsCall(lsm.url, call);
  const text = await res.text();
  // Whatever the refusal, it carries no value.
  expect(text).not.toContain(password);
  return {
    status: res.status,
    type: res.headers.get('x-amzn-errortype'),
    body: JSON.parse(text) as { __type?: string; message?: string },
  };
}

/** Nothing changed: the value is the seeded one, with its single version, and no secret was planted. */
function expectUnchanged(): void {
  expect(lsm.heldValues()).toEqual([JSON.stringify({ engine: 'postgres', password })]);
  expect(lsm.stats()).toMatchObject({ secrets: 1, versions: 1 });
}

describe('the local Secrets Manager refuses what is not signed by its own keys (issue 19, section 1)', () => {
  it('answers a correctly hand-signed request (the control for the refusals below)', async () => {
    const res = await rawAwsCall(lsm.url, {
      target: 'secretsmanager.GetSecretValue',
      body: get,
      sign: lsm.credentials,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { SecretString: string }).SecretString).toContain(password);
  });

  it('refuses the unsigned curl of the issue with MissingAuthenticationTokenException, and unsigned writes change nothing', async () => {
    const read = await refusal({ target: 'secretsmanager.GetSecretValue', body: get });
    expect(read).toMatchObject({
      status: 400,
      type: 'MissingAuthenticationTokenException',
      body: { __type: 'MissingAuthenticationTokenException' },
    });
    for (const [target, body] of [
      ['PutSecretValue', put],
      ['CreateSecret', create],
    ] as const) {
      expect(await refusal({ target: `secretsmanager.${target}`, body })).toMatchObject({
        status: 400,
        type: 'MissingAuthenticationTokenException',
      });
    }
    expectUnchanged();
  });

  it('refuses an unknown access key with UnrecognizedClientException', async () => {
    const stranger = { accessKeyId: 'AKIASTRANGER0000000', secretAccessKey: 'Hn4pX8rW2tK6vB0qM3zL7cJ1' };
    for (const [target, body] of [
      ['GetSecretValue', get],
      ['PutSecretValue', put],
      ['CreateSecret', create],
    ] as const) {
      const refused = await refusal({ target: `secretsmanager.${target}`, body, sign: stranger });
      expect(refused).toMatchObject({
        status: 400,
        type: 'UnrecognizedClientException',
        body: { message: 'The security token included in the request is invalid.' },
      });
    }
    expectUnchanged();
  });

  it('refuses a signature made with the wrong secret key with InvalidSignatureException', async () => {
    const wrongKey = { accessKeyId: lsm.credentials.accessKeyId, secretAccessKey: 'Wr0ngS3cr3tK3yThatIsNotIt' };
    for (const [target, body] of [
      ['GetSecretValue', get],
      ['PutSecretValue', put],
      ['CreateSecret', create],
    ] as const) {
      const refused = await refusal({ target: `secretsmanager.${target}`, body, sign: wrongKey });
      expect(refused).toMatchObject({ status: 400, type: 'InvalidSignatureException' });
      expect(refused.body.message).toMatch(
        /^The request signature we calculated does not match the signature you provided/,
      );
    }
    expectUnchanged();
  });

  it('refuses a signed request replayed with another body, or another operation', async () => {
    const harmless = JSON.stringify({ SecretId: 'postgresSecrets' });
    const signedPut = JSON.stringify({ SecretId: 'postgresSecrets', SecretString: 'Tz8qW3' });
    const replayedBody = await refusal({
      target: 'secretsmanager.PutSecretValue',
      body: signedPut,
      sendBody: put,
      sign: lsm.credentials,
    });
    expect(replayedBody).toMatchObject({ status: 400, type: 'InvalidSignatureException' });
    const replayedCreate = await refusal({
      target: 'secretsmanager.CreateSecret',
      body: JSON.stringify({ Name: 'other', SecretString: 'Kx9vQ2' }),
      sendBody: create,
      sign: lsm.credentials,
    });
    expect(replayedCreate).toMatchObject({ status: 400, type: 'InvalidSignatureException' });
    // A signed header changed after signing (the operation): refused too.
    const otherTarget = await refusal({
      target: 'secretsmanager.DescribeSecret',
      body: harmless,
      sign: lsm.credentials,
      afterSigning: { 'x-amz-target': 'secretsmanager.GetSecretValue' },
    });
    expect(otherTarget).toMatchObject({ status: 400, type: 'InvalidSignatureException' });
    expectUnchanged();
  });

  it('refuses a malformed Authorization header with IncompleteSignatureException', async () => {
    for (const authorization of [
      'Bearer x',
      'AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/secretsmanager',
      `AWS4-HMAC-SHA256 Credential=${lsm.credentials.accessKeyId}/x/us-east-1/secretsmanager/aws4_request`,
    ]) {
      const refused = await refusal({
        target: 'secretsmanager.PutSecretValue',
        body: put,
        afterSigning: { authorization },
      });
      expect({ authorization, status: refused.status, type: refused.type }).toEqual({
        authorization,
        status: 400,
        type: 'IncompleteSignatureException',
      });
    }
    expectUnchanged();
  });

  it('refuses a signature dated more than 5 minutes away with "Signature expired" (or not yet current)', async () => {
    const stale = await refusal({
      target: 'secretsmanager.PutSecretValue',
      body: put,
      sign: { ...lsm.credentials, date: new Date(Date.now() - 6 * 60_000) },
    });
    expect(stale).toMatchObject({ status: 400, type: 'InvalidSignatureException' });
    expect(stale.body.message).toMatch(
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/,
    );
    const early = await refusal({
      target: 'secretsmanager.GetSecretValue',
      body: get,
      sign: { ...lsm.credentials, date: new Date(Date.now() + 6 * 60_000) },
    });
    expect(early).toMatchObject({ status: 400, type: 'InvalidSignatureException' });
    expect(early.body.message).toMatch(/^Signature not yet current/);
    expectUnchanged();
  });

  it('refuses a signed request whose Host names anything but its own loopback address and port (DNS rebinding)', async () => {
    const port = lsm.port;
    for (const host of [
      `rebind.example:${port}`,
      `127.0.0.1:${port + 1}`,
      `127.0.0.2:${port}`,
      `localhost.example:${port}`,
    ]) {
      const refused = await refusal({
        target: 'secretsmanager.PutSecretValue',
        body: put,
        host,
        sign: lsm.credentials,
      });
      expect({ host, status: refused.status, type: refused.type }).toEqual({
        host,
        status: 421,
        type: 'MisdirectedRequestException',
      });
    }
    expectUnchanged();
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
      const res = await rawAwsCall(lsm.url, {
        target: 'secretsmanager.GetSecretValue',
        body: get,
        host,
        sign: lsm.credentials,
      });
      expect({ host, status: res.status }).toEqual({ host, status: 200 });
    }
  });

  it('records each refusal with its AWS error and the key it named', async () => {
    await refusal({ target: 'secretsmanager.GetSecretValue', body: get });
    await refusal({
      target: 'secretsmanager.GetSecretValue',
      body: get,
      sign: { accessKeyId: 'AKIAOTHER', secretAccessKey: 'Pq7Wz3Rt9Lm' },
    });
    expect(lsm.requests).toEqual([
      {
        operation: 'GetSecretValue',
        secretId: 'postgresSecrets',
        status: 400,
        errorType: 'MissingAuthenticationTokenException',
      },
      {
        operation: 'GetSecretValue',
        secretId: 'postgresSecrets',
        accessKeyId: 'AKIAOTHER',
        status: 400,
        errorType: 'UnrecognizedClientException',
      },
    ]);
  });

  it('generates a fresh key pair per start in AWS shapes, and the unchanged AWS SDK signs with it', async () => {
    const other = await startLocalSecretsManager();
    try {
      expect(lsm.credentials.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
      expect(lsm.credentials.secretAccessKey).toHaveLength(40);
      expect(other.credentials.accessKeyId).not.toBe(lsm.credentials.accessKeyId);
      expect(other.credentials.secretAccessKey).not.toBe(lsm.credentials.secretAccessKey);
      const sdk = new SecretsManagerClient({ region: 'us-east-1', endpoint: lsm.url, credentials: lsm.credentials });
      const foreign = new SecretsManagerClient({
        region: 'us-east-1',
        endpoint: lsm.url,
        credentials: other.credentials,
        maxAttempts: 1,
      });
      try {
        expect((await sdk.send(new GetSecretValueCommand({ SecretId: 'postgresSecrets' }))).SecretString).toContain(
          password,
        );
        const error = await foreign.send(new GetSecretValueCommand({ SecretId: 'postgresSecrets' })).then(
          () => undefined,
          (e: Error) => e,
        );
        expect(error?.name).toBe('UnrecognizedClientException');
      } finally {
        sdk.destroy();
        foreign.destroy();
      }
    } finally {
      await other.close();
    }
  });
});

describe('what the local Secrets Manager remembers of requests it refused (issue 19, section 1)', () => {
  it('keeps at most 256 characters of a caller-chosen SecretId, operation or access key id', async () => {
    // Headers stay under Node's 16 KiB limit; the body may hold up to 1 MiB.
    const long = 'x'.repeat(10_000);
    await rawAwsCall(lsm.url, {
      target: `secretsmanager.${long}`,
      body: JSON.stringify({ SecretId: long.repeat(50) }),
    });
    await rawAwsCall(lsm.url, {
      target: 'secretsmanager.GetSecretValue',
      body: get,
      sign: { accessKeyId: long, secretAccessKey: 'Kp4Wz8Qr2Lm6' },
    });
    const [first, second] = lsm.requests;
    expect([first?.operation.length, first?.secretId?.length, second?.accessKeyId?.length]).toEqual([256, 256, 256]);
  });
});

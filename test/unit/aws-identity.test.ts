import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsIdentity } from '../../src/secrets/index.js';
import {
  randomKeyPair,
  roleArnOf,
  startLocalSecretsManager,
  type LocalSecretsManager,
} from '../support/local-secrets-manager/index.js';

// The identity's cache against the real STS client and the local endpoint; its clock is injected,
// so lifetimes are checked without waiting.

const base = randomKeyPair();
const minute = 60_000;

describe('createAwsIdentity', () => {
  let endpoint: LocalSecretsManager;

  beforeAll(async () => {
    endpoint = await startLocalSecretsManager({ credentials: [base] });
    for (const name of ['a', 'b', 'c']) endpoint.defineRole({ name, secrets: [] });
  });

  afterAll(async () => {
    await endpoint?.close();
  });

  const identityAt = (clock: { now: number }, extra: { maxRoles?: number } = {}) =>
    createAwsIdentity({ endpoint: endpoint.url, defaultCredentials: base, now: () => clock.now, ...extra });

  it('passes a call without roleArn through with its own credentials, calling nothing', async () => {
    const identity = identityAt({ now: Date.now() });
    const before = endpoint.countRequests();
    const own = { accessKeyId: 'AKIDSTEP', secretAccessKey: 'step-secret' };
    expect(await identity.credentialsFor({ credentials: own })).toEqual({ ok: true, credentials: own });
    expect(await identity.credentialsFor({})).toEqual({ ok: true, credentials: undefined });
    expect(endpoint.countRequests()).toBe(before);
    identity.close();
  });

  it('keeps a role’s credentials until 5 minutes before they expire, then assumes it again', async () => {
    const clock = { now: Date.now() };
    const identity = identityAt(clock);
    const before = endpoint.countRequests('AssumeRole');
    const first = await identity.credentialsFor({ roleArn: roleArnOf('a') });
    expect(first.ok && first.credentials?.accessKeyId).toMatch(/^ASIA/);
    clock.now += 54 * minute;
    expect(await identity.credentialsFor({ roleArn: roleArnOf('a') })).toEqual(first);
    expect(endpoint.countRequests('AssumeRole')).toBe(before + 1);
    clock.now += 2 * minute;
    const second = await identity.credentialsFor({ roleArn: roleArnOf('a') });
    expect(second.ok && second.credentials?.accessKeyId).not.toBe(first.ok && first.credentials?.accessKeyId);
    expect(endpoint.countRequests('AssumeRole')).toBe(before + 2);
    identity.close();
  });

  it('holds at most maxRoles roles, dropping the least recently used, and caches no failure', async () => {
    const identity = identityAt({ now: Date.now() }, { maxRoles: 2 });
    const before = endpoint.countRequests('AssumeRole');
    for (const name of ['a', 'b', 'a', 'c']) await identity.credentialsFor({ roleArn: roleArnOf(name) });
    expect(identity.size).toBe(2);
    expect(endpoint.countRequests('AssumeRole')).toBe(before + 3);
    await identity.credentialsFor({ roleArn: roleArnOf('a') });
    expect(endpoint.countRequests('AssumeRole')).toBe(before + 3);
    await identity.credentialsFor({ roleArn: roleArnOf('b') });
    expect(endpoint.countRequests('AssumeRole')).toBe(before + 4);
    for (let i = 0; i < 2; i++) {
      const refused = await identity.credentialsFor({ roleArn: roleArnOf('unknown') });
      expect(refused.ok || refused.error.name).toBe('AccessDenied');
    }
    expect(endpoint.countRequests('AssumeRole')).toBe(before + 6);
    identity.close();
  });

  it('keys the cache by base identity: a step’s own credentials assume the role apart from the agent’s', async () => {
    const other = randomKeyPair();
    const second = await startLocalSecretsManager({ credentials: [base, other] });
    second.defineRole({ name: 'a', secrets: [] });
    const identity = createAwsIdentity({ endpoint: second.url, defaultCredentials: base });
    await identity.credentialsFor({ roleArn: roleArnOf('a') });
    await identity.credentialsFor({ roleArn: roleArnOf('a'), credentials: other });
    await identity.credentialsFor({ roleArn: roleArnOf('a'), credentials: other });
    expect(second.requests.filter((r) => r.operation === 'AssumeRole').map((r) => r.accessKeyId)).toEqual([
      base.accessKeyId,
      other.accessKeyId,
    ]);
    identity.close();
    await second.close();
  });
});

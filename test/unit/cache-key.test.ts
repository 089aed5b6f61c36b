import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadValidConfig, type LoadedConfig } from '../../src/config/index.js';
import { CacheKey, createProfileFor } from '../../src/credentials/index.js';
import { CredflowError } from '../../src/errors.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir } from '../support/config-dir.js';

const fields = {
  workflow: 'getSecrets',
  profile: 'default',
  integration: 'orders',
  params: { secretName: 'orders', region: 'eu-west-1' },
  defaultParams: { secretName: 'postgresSecrets', region: 'us-east-1' },
  ttlSeconds: 300,
  maxStaleSeconds: 600,
};

describe('CacheKey', () => {
  it('keeps its fields as fields', () => {
    const key = new CacheKey(fields);
    expect(key).toMatchObject({
      workflow: 'getSecrets',
      profile: 'default',
      integration: 'orders',
      params: { secretName: 'orders', region: 'eu-west-1' },
      ttlSeconds: 300,
      maxStaleSeconds: 600,
    });
    expect(String(key)).toBe(key.id);
  });

  it('gives equal ids to equal params written in another key order', () => {
    const a = new CacheKey(fields);
    const b = new CacheKey({ ...fields, params: { region: 'eu-west-1', secretName: 'orders' } });
    expect(b.id).toBe(a.id);
  });

  it('gives equal ids when a param equals the default it overrides', () => {
    const explicit = new CacheKey({ ...fields, params: { secretName: 'postgresSecrets' } });
    const implicit = new CacheKey({ ...fields, params: {} });
    expect(explicit.id).toBe(implicit.id);
  });

  it('gives different ids when any field differs', () => {
    const base = new CacheKey(fields).id;
    const variants: Partial<typeof fields>[] = [
      { workflow: 'other' },
      { profile: 'staging' },
      { integration: 'billing' },
      { params: { secretName: 'billing', region: 'eu-west-1' } },
      { ttlSeconds: 60 },
      { maxStaleSeconds: 0 },
    ];
    for (const variant of variants) expect(new CacheKey({ ...fields, ...variant }).id).not.toBe(base);
  });
});

describe('CacheKey.of and the profile choice, from a loaded configuration', () => {
  let folder: Awaited<ReturnType<typeof writeConfigDir>> | undefined;
  let config: LoadedConfig;
  const settings = { defaultProfile: 'default', profiles: ['default', 'readonly'] };
  const lifetimes = { ttlSeconds: 300, maxStaleSeconds: 600 };

  beforeAll(async () => {
    folder = await writeConfigDir({
      workflows: { getSecrets: secretsWorkflow('getSecrets') },
      integrations: {
        plain: postgresIntegration('plain'),
        staged: {
          ...postgresIntegration('staged'),
          fetchCredentialsDynamically: {
            enabled: true,
            workflow: 'getSecrets',
            params: { secretName: 'staged' },
            cacheTtlSeconds: 30,
            profiles: { live: {}, staging: { params: { secretName: 'staged-staging' } } },
          },
        },
      },
    });
    config = await loadValidConfig(folder.dir, {});
  });

  afterAll(async () => {
    await folder?.remove();
  });

  const integration = (name: string) => {
    const found = config.integrations.get(name);
    if (!found) throw new Error(`no integration ${name}`);
    return found;
  };
  const workflow = () => {
    const found = config.workflows.get('getSecrets');
    if (!found) throw new Error('no workflow getSecrets');
    return found;
  };

  it("lays the profile's params over the integration's, and takes the integration's lifetimes first", () => {
    const key = CacheKey.of(integration('staged'), 'staging', workflow(), lifetimes);
    expect(key).toMatchObject({
      workflow: 'getSecrets',
      profile: 'staging',
      integration: 'staged',
      params: { secretName: 'staged-staging' },
      ttlSeconds: 30,
      maxStaleSeconds: 600,
    });
    expect(CacheKey.of(integration('staged'), 'live', workflow(), lifetimes).params).toEqual({ secretName: 'staged' });
  });

  it('gives each integration entries of its own, even with the same workflow and params', () => {
    const plain = CacheKey.of(integration('plain'), 'default', workflow(), lifetimes);
    expect(plain.params).toEqual({});
    expect(plain.ttlSeconds).toBe(300);
    const other = new CacheKey({ ...plain, defaultParams: workflow().params, integration: 'staged' });
    expect(other.id).not.toBe(plain.id);
  });

  it("chooses the given profile, else the agent's default", () => {
    const profileFor = createProfileFor(settings);
    expect(profileFor(integration('plain'), undefined)).toBe('default');
    expect(profileFor(integration('plain'), 'readonly')).toBe('readonly');
    expect(profileFor(integration('staged'), 'staging')).toBe('staging');
  });

  it("refuses a profile the integration does not declare, or, when it declares none, the agent's list lacks", () => {
    const profileFor = createProfileFor(settings);
    const refusal = (name: string, profile: string | undefined) => {
      try {
        profileFor(integration(name), profile);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const made = refusal('plain', 'made-up');
    expect(made).toBeInstanceOf(CredflowError);
    expect(made).toMatchObject({
      code: 'PROFILE_NOT_FOUND',
      message: 'integration "plain" has no profile "made-up" (it has: default, readonly)',
      details: { integration: 'plain', profile: 'made-up' },
    });
    // An integration that declares profiles accepts those only: the agent's default is not one of them.
    expect(refusal('staged', undefined)).toMatchObject({
      code: 'PROFILE_NOT_FOUND',
      message: 'integration "staged" has no profile "default" (it has: live, staging)',
    });
    expect(refusal('staged', 'readonly')).toMatchObject({ code: 'PROFILE_NOT_FOUND' });
  });
});

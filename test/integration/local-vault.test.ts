import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentSettings } from '../../src/config/index.js';
import { SecretMasker } from '../../src/masking/index.js';
import { createVaultClient, VaultError, type VaultClient } from '../../src/secrets/index.js';
import { vaultBridge } from '../../src/workflows/bridge/vault-bridge.js';
import type { Workflow } from '../../src/config/index.js';
import { startLocalVault } from '../../src/local-vault/index.js';
import { startTestVault, type TestVault } from '../support/local-vault/start-test-vault.js';
import { makeTestCertificates } from '../support/test-certificates.js';
import { asSuperuser, createTestDatabase } from '../support/test-database.js';

const usersLike = (prefix: string) =>
  asSuperuser(
    async (c) => (await c.query('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [`${prefix}%`])).rowCount,
  );

describe('the local Vault endpoint and the Vault client', () => {
  let vault: TestVault;
  let client: VaultClient;

  beforeAll(async () => {
    const db = await createTestDatabase('lvault');
    vault = await startTestVault(db, { roles: { short: { defaultTtlSeconds: 1 } }, sweepIntervalMs: 100 });
    client = createVaultClient({ addr: vault.url, credentials: { token: vault.rootToken } });
  });
  afterAll(async () => {
    await vault?.close();
  });

  it('drops the user of a lease that ran out without being renewed (the sweep)', async () => {
    const secret = await client.read('database/creds/short');
    const { username } = secret.data as { username: string };
    expect(secret).toMatchObject({ lease_duration: 1, renewable: true });
    expect(await usersLike(username)).toBe(1);
    for (let i = 0; i < 200 && (await usersLike(username)) === 1; i += 1) await sleep(50);
    expect(await usersLike(username)).toBe(0);
  });

  it("answers with Vault's error format and statuses, which the client names", async () => {
    const bad = await fetch(`${vault.url}/v1/secret/data/x`, { headers: { 'x-vault-token': 'nope' } });
    expect(bad.status).toBe(403);
    expect(await bad.json()).toEqual({ errors: ['permission denied'] });
    const wrong = createVaultClient({ addr: vault.url, credentials: { token: 'hvs.not-a-token' } });
    await expect(wrong.kvGet('secret', 'x')).rejects.toMatchObject({ name: 'VaultPermissionDenied', status: 403 });
    await expect(client.kvGet('secret', 'missing')).rejects.toMatchObject({ name: 'VaultNotFound', status: 404 });
    await expect(client.read('database/creds/unknown')).rejects.toMatchObject({
      name: 'VaultInvalidRequest',
      message: 'GET /v1/database/creds/unknown: unknown role: unknown',
    });
    const renew = client.renewLease('database/creds/short/none', 60);
    await expect(renew).rejects.toBeInstanceOf(VaultError);
  });

  it('talks https to a Vault whose certificate the VAULT_CACERT CA signed, and refuses it without that CA', async () => {
    const certs = await makeTestCertificates();
    const tls = await startLocalVault({ tls: { key: certs.key, cert: certs.cert } });
    try {
      tls.putKv('secret', 'app/tls', { api_key: 'tls-Rw3Kx8Vq2Lm5' });
      expect(tls.url).toMatch(/^https:/);
      const trusting = createVaultClient({ addr: tls.url, credentials: { token: tls.rootToken }, caCert: certs.ca });
      expect((await trusting.kvGet('secret', 'app/tls')).data).toEqual({ api_key: 'tls-Rw3Kx8Vq2Lm5' });
      const plain = createVaultClient({ addr: tls.url, credentials: { token: tls.rootToken } });
      await expect(plain.kvGet('secret', 'app/tls')).rejects.toMatchObject({
        name: 'VaultUnreachable',
        message: expect.stringMatching(/no answer \([A-Z_]+\)/),
      });
    } finally {
      await tls.close();
    }
  });

  it('refuses vault.* calls with a clear error when Vault is not configured', async () => {
    const workflow = { name: 'w', steps: [], params: {} } as unknown as Workflow;
    const bridge = vaultBridge({
      stores: {} as never,
      masker: new SecretMasker(),
      metrics: undefined,
      workflow,
      deadline: Date.now() + 1000,
    });
    await expect(bridge['vault.kv.get']?.({ path: 'app/x' })).rejects.toMatchObject({
      name: 'VaultNotConfigured',
      message: expect.stringContaining('VAULT_ADDR'),
    });
  });

  it('checks the Vault settings together, naming the variable', () => {
    expect(() => readAgentSettings({ VAULT_ADDR: 'http://127.0.0.1:8200' })).toThrow(
      /VAULT_ADDR: needs CREDFLOW_VAULT_TOKEN/,
    );
    expect(() => readAgentSettings({ VAULT_ADDR: 'ftp://x' })).toThrow(/VAULT_ADDR/);
    expect(() => readAgentSettings({ VAULT_ADDR: 'http://v:8200', CREDFLOW_VAULT_ROLE_ID: 'r' })).toThrow(
      /CREDFLOW_VAULT_SECRET_ID: AppRole needs both/,
    );
    expect(
      readAgentSettings({ VAULT_ADDR: 'https://v:8200', CREDFLOW_VAULT_TOKEN: 't', VAULT_NAMESPACE: 'ns' }).vault,
    ).toEqual({
      addr: 'https://v:8200',
      credentials: { token: 't' },
      namespace: 'ns',
      caCertFile: undefined,
    });
    const appRole = { VAULT_ADDR: 'http://v:8200', CREDFLOW_VAULT_ROLE_ID: 'r', CREDFLOW_VAULT_SECRET_ID: 's' };
    expect(readAgentSettings(appRole).vault?.credentials).toEqual({
      appRole: { roleId: 'r', secretId: 's', mount: 'approle' },
    });
    expect(readAgentSettings({ ...appRole, CREDFLOW_VAULT_APPROLE_MOUNT: 'teams/approle' }).vault?.credentials).toEqual(
      {
        appRole: { roleId: 'r', secretId: 's', mount: 'teams/approle' },
      },
    );
    expect(() => readAgentSettings({ ...appRole, CREDFLOW_VAULT_APPROLE_MOUNT: '/approle/' })).toThrow(
      /CREDFLOW_VAULT_APPROLE_MOUNT: must be the path of an auth mount/,
    );
    expect(() =>
      readAgentSettings({ VAULT_ADDR: 'http://v:8200', CREDFLOW_VAULT_TOKEN: 't', CREDFLOW_VAULT_APPROLE_MOUNT: 'a' }),
    ).toThrow(/CREDFLOW_VAULT_APPROLE_MOUNT: is used only by an AppRole login/);
  });
});

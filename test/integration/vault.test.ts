import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFiles } from '../support/config-dir.js';
import { query } from '../support/integration-probes.js';
import { startTestVault, type TestVault } from '../support/local-vault/start-test-vault.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** Polls `check` until it holds (the test's own timeout bounds the wait); returns whether it did. */
async function eventually(check: () => Promise<boolean> | boolean, tries = 200, everyMs = 50): Promise<boolean> {
  for (let i = 0; i < tries; i += 1) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

/** The dynamic users of a Vault role in PostgreSQL itself, with their VALID UNTIL. */
const usersOf = (role: string) =>
  asSuperuser(async (c) => {
    const r = await c.query<{ rolname: string; until: Date | null }>(
      `SELECT rolname, rolvaliduntil AS until FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname`,
      [`v-${role}-%`],
    );
    return r.rows;
  });

/** An integration whose credentials come from `workflow`, with the database from its params. */
const vaultIntegration = (name: string, workflow: string, params: Record<string, unknown>) => ({
  name,
  kind: 'postgres',
  fetchCredentialsDynamically: { enabled: true, workflow, params },
  connection: {
    host: `<<${workflow}.response.host>>`,
    port: `<<${workflow}.response.port>>`,
    database: `<<${workflow}.response.dbname>>`,
    user: `<<${workflow}.response.username>>`,
    password: `<<${workflow}.response.password>>`,
  },
});

const dynamicCredsWorkflow = {
  name: 'getDynamicCreds',
  allowedVaultPaths: ['database/creds/*'],
  steps: [
    {
      name: 'creds',
      code: 'const r = await vault.read({ path: `database/creds/${params.role}` }); return { host: params.host, port: params.port, dbname: params.dbname, username: r.data.username, password: r.data.password, leaseDuration: r.lease_duration, renewable: r.renewable };',
    },
  ],
};

const kvWorkflow = {
  name: 'getKv',
  params: { path: 'app/db' },
  allowedVaultPaths: ['secret/data/app/*'],
  steps: [
    {
      name: 'kv',
      code: 'const r = await vault.kv.get({ path: params.path, ...(params.version ? { version: params.version } : {}) }); return { ...r.data, version: r.metadata.version };',
    },
  ],
};

describe('HashiCorp Vault: KV v2 and dynamic database credentials with leases', () => {
  let db: TestDatabase;
  let vault: TestVault;
  let t: TestAgent;
  let approle: TestAgent;
  const roleId = 'credflow-role-7f3a';
  const secretId = 'sid-Q2w9-Lx7Vb4Nz1Kp8';

  beforeAll(async () => {
    db = await createTestDatabase('vault');
    vault = await startTestVault(db, {
      appRoles: [{ roleId, secretId, paths: ['secret/data/app/*'], tokenTtlSeconds: 3 }],
      // Mounted elsewhere than Vault's default, as CREDFLOW_VAULT_APPROLE_MOUNT allows.
      appRoleMount: 'teams/approle',
      roles: { concurrent: {}, renewed: { defaultTtlSeconds: 3 }, retired: {}, previewed: {} },
    });
    vault.putKv('secret', 'app/db', { ...db, api_key: 'kv-v1-Hq8Zr3Tn5Wm2' });
    vault.putKv('secret', 'app/db', { ...db, api_key: 'kv-v2-Pd4Lc9Xs6Jy1' });
    const params = { host: db.host, port: db.port, dbname: db.dbname };
    const config: ConfigFiles = {
      workflows: {
        getKv: kvWorkflow,
        getDynamicCreds: dynamicCredsWorkflow,
        getElsewhere: {
          name: 'getElsewhere',
          allowedVaultPaths: ['secret/data/app/*'],
          steps: [{ name: 'read', code: 'return await vault.read({ path: params.path });' }],
        },
      },
      integrations: {
        'kv-postgres': vaultIntegration('kv-postgres', 'getKv', {}),
        concurrent: vaultIntegration('concurrent', 'getDynamicCreds', { ...params, role: 'concurrent' }),
        renewed: vaultIntegration('renewed', 'getDynamicCreds', { ...params, role: 'renewed' }),
        retired: vaultIntegration('retired', 'getDynamicCreds', { ...params, role: 'retired' }),
      },
    };
    const moreSecrets = () => vault.storedValues();
    [t, approle] = await Promise.all([
      startTestAgent(
        config,
        { VAULT_ADDR: vault.url, CREDFLOW_VAULT_TOKEN: vault.rootToken, VAULT_NAMESPACE: 'team-a' },
        { moreSecrets },
      ),
      startTestAgent(
        config,
        {
          VAULT_ADDR: vault.url,
          CREDFLOW_VAULT_ROLE_ID: roleId,
          CREDFLOW_VAULT_SECRET_ID: secretId,
          CREDFLOW_VAULT_APPROLE_MOUNT: 'teams/approle',
        },
        { moreSecrets },
      ),
    ]);
  });

  afterAll(async () => {
    // The agents close first: their pools end and they revoke their leases, so no user is left,
    // before the endpoint's own close would drop them.
    await t?.close();
    await approle?.close();
    const left = vault ? vault.activeDatabaseUsers().size : 0;
    const inPostgres = await Promise.all(['concurrent', 'renewed', 'retired'].map(usersOf));
    await vault?.close();
    expect(left).toBe(0);
    expect(inPostgres.flat()).toEqual([]);
  });

  it('reads a KV v2 secret through the agent (the latest version, or the one asked for), masked in previews', async () => {
    const res = await query(t, 'kv-postgres', 'SELECT current_user AS who');
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([{ who: db.username }]);

    const latest = await t.request('POST', '/api/v1/workflows/getKv/run', {});
    expect(latest.status).toBe(200);
    expect(latest.body.response).toMatchObject({ username: db.username, version: 2, api_key: '********' });
    const first = await t.request('POST', '/api/v1/workflows/getKv/run', { params: { version: 1 }, reveal: true });
    expect(first.body.response).toMatchObject({ version: 1, api_key: 'kv-v1-Hq8Zr3Tn5Wm2' });
    // Every call carried the namespace; the agent looked its token up once and read KV v2's data path.
    const ofT = vault.calls.filter((c) => c.namespace === 'team-a');
    expect(ofT.some((c) => c.method === 'GET' && c.path === '/v1/auth/token/lookup-self')).toBe(true);
    expect(ofT.some((c) => c.method === 'GET' && c.path === '/v1/secret/data/app/db')).toBe(true);
  });

  it("refuses paths outside the workflow's allowedVaultPaths before calling Vault, and names Vault's own errors", async () => {
    const before = vault.calls.length;
    const refused = await t.request('POST', '/api/v1/workflows/getElsewhere/run', {
      params: { path: 'database/creds/concurrent' },
    });
    expect(refused.text).toContain('VaultPermissionDenied');
    expect(refused.text).toContain('allowedVaultPaths');
    expect(vault.calls.length).toBe(before);

    const missing = await t.request('POST', '/api/v1/workflows/getKv/run', { params: { path: 'app/none' } });
    expect(missing.text).toContain('VaultNotFound');
    const bad = await t.request('POST', '/api/v1/workflows/getKv/run', { params: { path: '../sys/x' } });
    expect(bad.text).toContain('VaultInvalidRequest');
  });

  it('creates one database user per lease, however many queries arrive at once, and queries as it', async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        query(t, 'concurrent', 'SELECT current_user AS who, count(*)::int AS n FROM widgets'),
      ),
    );
    for (const res of answers) expect(res.status).toBe(200);
    const users = await usersOf('concurrent');
    expect(users).toHaveLength(1);
    expect(answers.map((a) => a.body.rows[0].who)).toEqual(answers.map(() => users[0]?.rolname));
    expect(answers[0]?.body.rows[0].n).toBe(3);
    expect(users[0]?.until).not.toBeNull();
    expect(vault.calls.filter((c) => c.path === '/v1/database/creds/concurrent')).toHaveLength(1);
  });

  it('renews the lease (VALID UNTIL moves later) while a pool on its user is open', async () => {
    expect((await query(t, 'renewed', 'SELECT 1 AS one')).status).toBe(200);
    const [created] = await usersOf('renewed');
    expect(created?.until).toBeInstanceOf(Date);
    const renewals = () => vault.calls.filter((c) => c.path === '/v1/sys/leases/renew' && c.status === 200).length;
    expect(await eventually(() => renewals() >= 1)).toBe(true);
    const [renewed] = await usersOf('renewed');
    expect(renewed?.rolname).toBe(created?.rolname);
    expect(renewed!.until!.getTime()).toBeGreaterThan(created!.until!.getTime());
  });

  it('revokes the lease, and PostgreSQL loses the user, once invalidate has retired and drained its pool', async () => {
    expect((await query(t, 'retired', 'SELECT 1 AS one')).status).toBe(200);
    const [user] = await usersOf('retired');
    expect(user).toBeDefined();
    const res = await t.request('POST', '/api/v1/integrations/retired/invalidate', {});
    expect(res.status).toBe(200);
    expect(await eventually(async () => (await usersOf('retired')).length === 0)).toBe(true);
    expect(vault.calls.some((c) => c.path === '/v1/sys/leases/revoke' && c.status === 204)).toBe(true);
    // The next query gets a new lease and a new user.
    const again = await query(t, 'retired', 'SELECT current_user AS who');
    expect(again.status).toBe(200);
    expect(again.body.rows[0].who).not.toBe(user?.rolname);
    expect(await usersOf('retired')).toHaveLength(1);
  });

  it('revokes at once the lease of a run whose credentials nothing keeps (a preview)', async () => {
    const res = await t.request('POST', '/api/v1/workflows/getDynamicCreds/run', {
      params: { host: db.host, port: db.port, dbname: db.dbname, role: 'previewed' },
    });
    expect(res.status).toBe(200);
    expect(res.body.response).toMatchObject({ password: '********', renewable: true });
    expect(res.body.response.username).toMatch(/^v-previewed-/);
    expect(await eventually(async () => (await usersOf('previewed')).length === 0)).toBe(true);
  });

  it('logs in with AppRole at its mount, renews its token before it expires, and is refused by Vault outside its policy', async () => {
    const logins = () => vault.calls.filter((c) => c.path === '/v1/auth/teams/approle/login').length;
    const res = await approle.request('POST', '/api/v1/workflows/getKv/run', {});
    expect(res.status).toBe(200);
    expect(res.body.response).toMatchObject({ version: 2, api_key: '********' });
    expect(logins()).toBe(1);
    // Two thirds of the token's 3 s have passed: the next call renews it first.
    await sleep(2100);
    expect((await approle.request('POST', '/api/v1/workflows/getKv/run', {})).status).toBe(200);
    expect(vault.calls.some((c) => c.path === '/v1/auth/token/renew-self' && c.status === 200)).toBe(true);
    expect(logins()).toBe(1);
    // Its token's policy does not cover database/creds: Vault says 403, the step sees VaultPermissionDenied.
    const denied = await query(approle, 'concurrent', 'SELECT 1');
    expect(denied.text).toContain('VaultPermissionDenied');
    expect(denied.text).toContain('permission denied');
  });

  it('holds a live lease per integration still in use (revoked when the agents close, see afterAll)', () => {
    expect([...vault.activeDatabaseUsers().values()].map((u) => u.replace(/-[0-9a-f]+$/, '')).sort()).toEqual([
      'v-concurrent',
      'v-renewed',
      'v-retired',
    ]);
  });
});

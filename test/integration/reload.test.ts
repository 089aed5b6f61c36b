import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postgresIntegration, secretsWorkflow, type ConfigFiles } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../support/test-database.js';

const rdsSecret = (db: TestDatabase) => ({
  SecretString: JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password: db.password,
    dbname: db.dbname,
  }),
});

const config: ConfigFiles = {
  workflows: { getSecrets: secretsWorkflow() },
  integrations: { orders: postgresIntegration('orders'), stock: postgresIntegration('stock') },
};

/** Polls `check` until it holds, up to `tries` times; returns whether it did. */
async function eventually(check: () => Promise<boolean> | boolean, tries = 200, everyMs = 50): Promise<boolean> {
  for (let i = 0; i < tries; i += 1) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

/** Writes an integration file the way many editors save: a temporary file renamed over the target. */
async function saveIntegration(t: TestAgent, name: string, doc: unknown): Promise<void> {
  const target = path.join(t.dir, 'integrations', `${name}.json`);
  await writeFile(`${target}.tmp~`, JSON.stringify(doc, null, 2));
  await rename(`${target}.tmp~`, target);
}

const logLines = (t: TestAgent) => t.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
const query = (t: TestAgent, integration: string, sql = 'SELECT 1 AS one') =>
  t.request('POST', `/api/v1/integrations/${integration}/query`, { sql });

let db: TestDatabase;
const agents: TestAgent[] = [];

async function start(options: { watch?: boolean; reloadOnSighup?: boolean }): Promise<TestAgent> {
  const t = await startTestAgent(config, {}, options);
  agents.push(t);
  t.secrets.createSecret('postgresSecrets', rdsSecret(db));
  return t;
}

beforeAll(async () => {
  db = await createTestDatabase('reload');
});

afterAll(async () => {
  for (const t of agents.splice(0)) await t.close();
});

describe('POST /api/v1/reload (issue 10, section 8)', () => {
  let t: TestAgent;
  beforeAll(async () => {
    t = await start({ watch: false, reloadOnSighup: false });
  });

  it('serves an integration added after start, and answers what was added', async () => {
    await saveIntegration(t, 'added', postgresIntegration('added'));
    expect((await t.request('GET', '/api/v1/integrations/added')).status).toBe(404);
    const res = await t.request('POST', '/api/v1/reload', {});
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      applied: true,
      trigger: 'api',
      problems: [],
      integrations: { added: ['added'], changed: [], removed: [] },
      workflows: { added: [], changed: [], removed: [] },
    });
    expect((await t.request('GET', '/api/v1/integrations/added')).status).toBe(200);
    expect((await query(t, 'added')).body.rows).toEqual([{ one: 1 }]);
  });

  it('keeps the cached response of an unchanged integration and drops that of a changed one', async () => {
    expect((await query(t, 'orders')).status).toBe(200);
    expect((await query(t, 'stock')).status).toBe(200);
    await saveIntegration(t, 'stock', { ...postgresIntegration('stock'), description: 'now described' });
    const res = await t.request('POST', '/api/v1/reload', {});
    expect(res.body.integrations).toEqual({ added: [], changed: ['stock'], removed: [] });
    expect((await t.request('GET', '/api/v1/integrations/orders/status')).body.cached).toBe(true);
    expect((await t.request('GET', '/api/v1/integrations/stock/status')).body.cached).toBe(false);
    expect((await t.request('GET', '/api/v1/integrations/stock')).body.config.description).toBe('now described');
  });

  it('lets a running query on a changed integration finish, and serves the next one from the new config', async () => {
    const running = query(t, 'orders', 'SELECT pg_sleep(1) AS slept');
    const started = await eventually(() =>
      asSuperuser(async (c) => {
        const r = await c.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND query = 'SELECT pg_sleep(1) AS slept' AND state = 'active'",
          [db.username],
        );
        return (r.rows[0]?.n ?? 0) > 0;
      }),
    );
    expect(started).toBe(true);
    await saveIntegration(t, 'orders', { ...postgresIntegration('orders'), readOnly: true });
    const reload = await t.request('POST', '/api/v1/reload', {});
    expect(reload.body.integrations.changed).toEqual(['orders']);
    const finished = await running;
    expect(finished.status).toBe(200);
    expect(finished.body.rows).toEqual([{ slept: '' }]);
    // The new file made the integration read-only.
    const write = await query(t, 'orders', 'CREATE TABLE reload_probe (id int)');
    expect(write.status).toBe(400);
  });

  it('rejects an invalid change with 422 naming file, JSON path and cause, and keeps the last good config', async () => {
    await saveIntegration(t, 'broken', {
      ...postgresIntegration('broken'),
      connection: { host: 'db', port: 99999, database: 'app', user: 'u' },
    });
    const res = await t.request('POST', '/api/v1/reload', {});
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('CONFIG_RELOAD_INVALID');
    expect(res.body.error.details.problems).toEqual([
      'integrations/broken.json: connection.port: Too big: expected number to be <=65535',
    ]);
    expect((await query(t, 'orders')).status).toBe(200);
    expect((await t.request('GET', '/api/v1/integrations/broken')).status).toBe(404);

    const status = await t.request('GET', '/api/v1/config/status');
    expect(status.body).toMatchObject({
      integrations: 3,
      workflows: 1,
      lastReload: { applied: false, problems: res.body.error.details.problems },
    });
    const metrics = await t.request('GET', '/metrics');
    expect(metrics.text).toMatch(/^credflow_config_last_reload_success 0$/m);
    expect(metrics.text).toMatch(/^credflow_config_reloads_total\{outcome="error"\} 1$/m);
    expect(metrics.text).toMatch(/^credflow_config_reloads_total\{outcome="ok"\} 3$/m);
    const line = logLines(t).find((l) => l.event === 'config.reload' && l.outcome === 'error');
    expect(line).toMatchObject({ trigger: 'api', problems: res.body.error.details.problems });
  });

  it('applies the change once the file is fixed, and the metric says the last reload succeeded', async () => {
    await saveIntegration(t, 'broken', postgresIntegration('broken'));
    const res = await t.request('POST', '/api/v1/reload', {});
    expect(res.status).toBe(200);
    expect(res.body.integrations.added).toEqual(['broken']);
    expect((await t.request('GET', '/metrics')).text).toMatch(/^credflow_config_last_reload_success 1$/m);
  });

  it('stops serving an integration whose file was removed', async () => {
    await rm(path.join(t.dir, 'integrations', 'broken.json'));
    const res = await t.request('POST', '/api/v1/reload', {});
    expect(res.body.integrations).toEqual({ added: [], changed: [], removed: ['broken'] });
    expect((await query(t, 'broken')).status).toBe(404);
  });

  it('counts every integration running a changed workflow as changed, and drops their cached responses', async () => {
    expect((await query(t, 'stock')).status).toBe(200);
    await writeFile(
      path.join(t.dir, 'workflows', 'getSecrets.json'),
      JSON.stringify({ ...secretsWorkflow(), description: 'edited' }),
    );
    const res = await t.request('POST', '/api/v1/reload', {});
    expect(res.body.workflows).toEqual({ added: [], changed: ['getSecrets'], removed: [] });
    expect([...res.body.integrations.changed].sort()).toEqual(['added', 'orders', 'stock']);
    expect((await t.request('GET', '/api/v1/integrations/stock/status')).body.cached).toBe(false);
    expect((await query(t, 'stock')).status).toBe(200);
  });

  it('is refused to a token without the admin scope', async () => {
    const reader = await startTestAgent(
      config,
      {},
      {
        watch: false,
        reloadOnSighup: false,
        tokens: [{ id: 'reader', token: 'reader-token-0123456789', scopes: ['read'] }],
      },
    );
    agents.push(reader);
    const res = await reader.request('POST', '/api/v1/reload', {}, 'reader-token-0123456789');
    expect(res.status).toBe(403);
  });
});

describe('other reload triggers', () => {
  afterEach(async () => {
    for (const t of agents.splice(0)) await t.close();
  });

  it('reloads on SIGHUP', async () => {
    const t = await start({ watch: false });
    await saveIntegration(t, 'hup', postgresIntegration('hup'));
    expect((await t.request('GET', '/api/v1/integrations/hup')).status).toBe(404);
    process.kill(process.pid, 'SIGHUP');
    expect(await eventually(async () => (await t.request('GET', '/api/v1/integrations/hup')).status === 200)).toBe(
      true,
    );
    expect(logLines(t).find((l) => l.event === 'config.reload')).toMatchObject({ trigger: 'signal', outcome: 'ok' });
  });

  it('reloads when a file in integrations/ is saved, without being asked', async () => {
    const t = await start({ reloadOnSighup: false });
    await saveIntegration(t, 'watched', postgresIntegration('watched'));
    expect(await eventually(async () => (await t.request('GET', '/api/v1/integrations/watched')).status === 200)).toBe(
      true,
    );
    expect((await query(t, 'watched')).body.rows).toEqual([{ one: 1 }]);
    expect(logLines(t).find((l) => l.event === 'config.reload')).toMatchObject({ trigger: 'watch', outcome: 'ok' });
  });
});

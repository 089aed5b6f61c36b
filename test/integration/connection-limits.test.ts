import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/embedded/start-embedded-postgres.js';
import { postgresIntegration, secretsWorkflow } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createRoleAndDatabase, type TestDatabase } from '../support/test-database.js';

/**
 * Issue 19, section 2: a token scoped to one integration (query + admin) ran rounds of busy queries,
 * each followed by an invalidate; every retired pool kept its busy connections, the next round
 * opened more, and the server ran out of slots for another integration (53300). These tests hold the
 * busy queries on an advisory lock the test owns (standing in for the issue's `pg_sleep(25)`, so that
 * nothing depends on timing) against a PostgreSQL of their own with a small `max_connections`.
 */

const MAX_CONNECTIONS = 20; // 17 for ordinary roles: PostgreSQL reserves 3 for superusers.
const LOCK = 19_002;

const tenantToken = 'tenant-token-4f9c2a7e1b';
const fullToken = 'test-token-0123456789';

const rdsSecret = (db: TestDatabase) =>
  JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password: db.password,
    dbname: db.dbname,
  });

const integration = (name: string, secretName: string) => ({
  ...postgresIntegration(name, 'getSecrets'),
  fetchCredentialsDynamically: { enabled: true, workflow: 'getSecrets', params: { secretName } },
});

const createDatabaseOn = (server: EmbeddedPostgresHandle, prefix: string): Promise<TestDatabase> =>
  createRoleAndDatabase(server, prefix, `Lm-${randomBytes(12).toString('base64url')}`);

/** A superuser session on `db` (superusers use the reserved slots) that holds the advisory lock the busy queries wait on. */
async function lockHolder(server: EmbeddedPostgresHandle, db: TestDatabase): Promise<pg.Client> {
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: db.dbname,
  });
  await client.connect();
  return client;
}

/** Calls `probe` until it is true; the test's own timeout bounds a condition that never comes. */
async function until(probe: () => Promise<boolean>, intervalMs = 25): Promise<void> {
  while (!(await probe())) await sleep(intervalMs);
}

const busySql = { sql: `SELECT pg_advisory_xact_lock_shared(${LOCK}) AS locked` };
const countSql = { sql: 'SELECT 1 AS one' };

describe('issue 19: connection limits per integration and per database server', () => {
  let server: EmbeddedPostgresHandle;
  let admin: pg.Client;
  let demo: TestDatabase;
  let other: TestDatabase;
  let third: TestDatabase;

  beforeAll(async () => {
    server = await startEmbeddedPostgres({ extraFlags: ['-c', `max_connections=${MAX_CONNECTIONS}`] });
    [demo, other, third] = [
      await createDatabaseOn(server, 'demo'),
      await createDatabaseOn(server, 'other'),
      await createDatabaseOn(server, 'third'),
    ];
    admin = new pg.Client({
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      database: 'postgres',
    });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await server?.stop();
  });

  /** Sessions of a role on the server, as PostgreSQL counts them. */
  const sessionsOf = async (db: TestDatabase): Promise<number> =>
    (
      await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [
        db.username,
      ])
    ).rows[0]?.n ?? 0;
  /** Sessions of a role waiting on the test's advisory lock. */
  const blockedOf = async (db: TestDatabase): Promise<number> =>
    (
      await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock'`,
        [db.username],
      )
    ).rows[0]?.n ?? 0;

  describe('a scoped token invalidating while its queries run', () => {
    let t: TestAgent;

    beforeAll(async () => {
      t = await startTestAgent(
        {
          workflows: { getSecrets: secretsWorkflow('getSecrets', 'demoSecret') },
          integrations: {
            'demo-postgres': integration('demo-postgres', 'demoSecret'),
            'other-db': integration('other-db', 'otherSecret'),
          },
        },
        // The defaults: 10 connections per integration, 50 per server, a 10 s connect timeout.
        {},
        {
          tokens: [
            fullToken,
            { id: 'tenant', token: tenantToken, scopes: ['query', 'admin'], integrations: ['demo-postgres'] },
          ],
        },
      );
      t.secrets.createSecret('demoSecret', { SecretString: rdsSecret(demo) });
      t.secrets.createSecret('otherSecret', { SecretString: rdsSecret(other) });
    });

    afterAll(async () => {
      await t?.close();
    });

    it("keeps the integration's connections, draining pools included, within CREDFLOW_POOL_MAX, so another integration on the server keeps working; status and metrics show the draining pool", async () => {
      const holder = await lockHolder(server, demo);
      await holder.query(`SELECT pg_advisory_lock(${LOCK})`);
      const demoResponses: Promise<{ status: number; body: any }>[] = [];
      const rounds = 3;
      try {
        for (let round = 1; round <= rounds; round += 1) {
          const settled = new Set<number>();
          const blockedBefore = await blockedOf(demo);
          for (let i = 0; i < 10; i += 1) {
            const response = t.request('POST', '/api/v1/integrations/demo-postgres/query', busySql, tenantToken);
            void response.then(() => settled.add(i));
            demoResponses.push(response);
          }
          // Every query of the round has reached the database (blocked on the lock), failed, or is
          // waiting for a connection (status `waiting`): the state the invalidate met.
          await until(async () => {
            const status = await t.request('GET', '/api/v1/integrations/demo-postgres/status');
            const waiting = Number(status.body?.pools?.waiting ?? 0);
            return settled.size + waiting + Math.max(0, (await blockedOf(demo)) - blockedBefore) >= 10;
          });
          const invalidated = await t.request(
            'POST',
            '/api/v1/integrations/demo-postgres/invalidate',
            undefined,
            tenantToken,
          );
          expect(invalidated.status).toBe(200);
          // The busy queries of earlier rounds hold their connections; the integration has no more.
          expect(await sessionsOf(demo)).toBe(10);
          const neighbour = await t.request('POST', '/api/v1/integrations/other-db/query', countSql);
          expect(neighbour.body).toEqual(expect.objectContaining({ rows: [{ one: 1 }] }));
        }

        // The first round's pool drains with its 10 busy connections; later rounds' pools wait for room.
        const status = await t.request('GET', '/api/v1/integrations/demo-postgres/status');
        expect(status.status).toBe(200);
        expect(status.body.pools.draining).toBeGreaterThanOrEqual(1);
        expect(status.body.pools.connections).toEqual({ active: 0, idle: 0, draining: 10 });
        expect(status.body.pools.limits.integration).toEqual({ open: 10, max: 10 });
        const metrics = (await t.request('GET', '/metrics')).text;
        expect(metrics).toMatch(/^credflow_pools_draining [1-9]\d*$/m);
        expect(metrics).toMatch(
          /^credflow_pool_connections\{integration="demo-postgres",profile="default",state="draining"\} 10$/m,
        );
        expect(Number(/^credflow_pools (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
      } finally {
        await holder.query(`SELECT pg_advisory_unlock(${LOCK})`);
        await holder.end();
      }

      const demoSettled = await Promise.all(demoResponses);
      expect((await t.request('POST', '/api/v1/integrations/other-db/query', countSql)).status).toBe(200);
      // Each busy query ran or, past the connect timeout, was told to come back; none met PostgreSQL's 53300.
      for (const response of demoSettled) {
        if (response.status !== 200) expect(response.body.error.code).toBe('CONNECTION_LIMIT');
      }
      expect(demoSettled.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(10);
      expect(JSON.stringify(demoSettled)).not.toContain('53300');
      // Once the drained pools closed, nothing of them is left, in status or on the server.
      await until(
        async () => (await t.request('GET', '/api/v1/integrations/demo-postgres/status')).body.pools.draining === 0,
      );
      expect(await sessionsOf(demo)).toBeLessThanOrEqual(10);
    });
  });

  describe('a caller past a limit', () => {
    let t: TestAgent;

    beforeAll(async () => {
      t = await startTestAgent(
        {
          workflows: { getSecrets: secretsWorkflow('getSecrets', 'demoSecret') },
          integrations: {
            small: integration('small', 'demoSecret'),
            neighbour: integration('neighbour', 'thirdSecret'),
          },
        },
        { CREDFLOW_POOL_MAX: '2', CREDFLOW_UPSTREAM_MAX_CONNECTIONS: '3', CREDFLOW_CONNECT_TIMEOUT_MS: '300' },
      );
      t.secrets.createSecret('demoSecret', { SecretString: rdsSecret(demo) });
      t.secrets.createSecret('thirdSecret', { SecretString: rdsSecret(third) });
    });

    afterAll(async () => {
      await t?.close();
    });

    it('gets 503 CONNECTION_LIMIT with Retry-After, naming the integration and the limit, for a full pool, a pool draining, and a full server', async () => {
      const holder = await lockHolder(server, demo);
      const thirdHolder = await lockHolder(server, third);
      await holder.query(`SELECT pg_advisory_lock(${LOCK})`);
      await thirdHolder.query(`SELECT pg_advisory_lock(${LOCK})`);
      const busy: Promise<unknown>[] = [];
      const query = async (name: string) => {
        const res = await fetch(`${t.url}/api/v1/integrations/${name}/query`, {
          method: 'POST',
          headers: { authorization: `Bearer ${fullToken}`, 'content-type': 'application/json' },
          body: JSON.stringify(countSql),
        });
        const text = await res.text();
        t.alsoSearch.push({ where: `query ${name}`, text });
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body: JSON.parse(text) as any };
      };
      try {
        // `small` holds both of its connections.
        for (let i = 0; i < 2; i += 1) busy.push(t.request('POST', '/api/v1/integrations/small/query', busySql));
        await until(async () => (await blockedOf(demo)) === 2);

        const full = await query('small');
        expect(full.status).toBe(503);
        expect(full.retryAfter).toBe('1');
        expect(full.body.error.code).toBe('CONNECTION_LIMIT');
        expect(full.body.error.message).toContain('integration "small"');
        expect(full.body.error.details).toMatchObject({ integration: 'small', limit: 'integration', max: 2 });

        // Retired, its two busy connections still count: a fresh pool gets none.
        expect((await t.request('POST', '/api/v1/integrations/small/invalidate')).status).toBe(200);
        const draining = await query('small');
        expect(draining.status).toBe(503);
        expect(draining.retryAfter).toBe('1');
        expect(draining.body.error.code).toBe('CONNECTION_LIMIT');
        expect(draining.body.error.details).toMatchObject({
          integration: 'small',
          limit: 'integration',
          open: 2,
          draining: 2,
        });

        // The server holds 2 of `small`'s and 1 of `neighbour`'s: the agent's third connection to it.
        busy.push(t.request('POST', '/api/v1/integrations/neighbour/query', busySql));
        await until(async () => (await blockedOf(third)) === 1);
        const serverFull = await query('neighbour');
        expect(serverFull.status).toBe(503);
        expect(serverFull.retryAfter).toBe('1');
        expect(serverFull.body.error.code).toBe('CONNECTION_LIMIT');
        expect(serverFull.body.error.message).toContain('integration "neighbour"');
        expect(serverFull.body.error.message).toContain('CREDFLOW_UPSTREAM_MAX_CONNECTIONS');
        expect(serverFull.body.error.details).toMatchObject({
          integration: 'neighbour',
          limit: 'server',
          max: 3,
          open: 3,
        });
        expect((await sessionsOf(demo)) + (await sessionsOf(third))).toBe(3);

        const metrics = (await t.request('GET', '/metrics')).text;
        expect(metrics).toMatch(
          /^credflow_connection_limit_refusals_total\{integration="small",limit="integration"\} 2$/m,
        );
        expect(metrics).toMatch(
          /^credflow_connection_limit_refusals_total\{integration="neighbour",limit="server"\} 1$/m,
        );
      } finally {
        await holder.query(`SELECT pg_advisory_unlock(${LOCK})`);
        await thirdHolder.query(`SELECT pg_advisory_unlock(${LOCK})`);
        await holder.end();
        await thirdHolder.end();
      }
      const done = (await Promise.all(busy)) as { status: number }[];
      expect(done.map((r) => r.status)).toEqual([200, 200, 200]);
      // Room again: the next queries of both run.
      expect((await t.request('POST', '/api/v1/integrations/small/query', countSql)).status).toBe(200);
      expect((await t.request('POST', '/api/v1/integrations/neighbour/query', countSql)).status).toBe(200);
    });

    it("closes another integration's idle connection when the server's limit is reached, rather than refusing a query for connections nobody uses", async () => {
      const holder = await lockHolder(server, demo);
      await holder.query(`SELECT pg_advisory_lock(${LOCK})`);
      const busy: Promise<{ status: number }>[] = [];
      try {
        // `small` opens both of its connections; once their queries end, both stay idle in its pool.
        for (let i = 0; i < 2; i += 1) busy.push(t.request('POST', '/api/v1/integrations/small/query', busySql));
        await until(async () => (await blockedOf(demo)) === 2);
      } finally {
        await holder.query(`SELECT pg_advisory_unlock(${LOCK})`);
        await holder.end();
      }
      expect((await Promise.all(busy)).map((r) => r.status)).toEqual([200, 200]);
      expect((await t.request('GET', '/api/v1/integrations/small/status')).body.pools).toMatchObject({
        total: 2,
        idle: 2,
      });
      // `neighbour` holds one busy connection: with small's two idle ones, the server's 3 are taken.
      const thirdHolder = await lockHolder(server, third);
      await thirdHolder.query(`SELECT pg_advisory_lock(${LOCK})`);
      let neighbourBusy: Promise<{ status: number }> | undefined;
      try {
        neighbourBusy = t.request('POST', '/api/v1/integrations/neighbour/query', busySql);
        await until(async () => (await blockedOf(third)) === 1);
        // A second query of `neighbour` needs a fourth connection: one of small's idle ones is closed for it.
        const next = await t.request('POST', '/api/v1/integrations/neighbour/query', countSql);
        expect(next.status, next.text).toBe(200);
        expect(next.body.rows).toEqual([{ one: 1 }]);
        expect((await t.request('GET', '/api/v1/integrations/small/status')).body.pools).toMatchObject({
          total: 1,
          idle: 1,
        });
        expect((await sessionsOf(demo)) + (await sessionsOf(third))).toBeLessThanOrEqual(3);
      } finally {
        await thirdHolder.query(`SELECT pg_advisory_unlock(${LOCK})`);
        await thirdHolder.end();
      }
      expect((await neighbourBusy)?.status).toBe(200);
    });

    it('closes the idle connections of a draining pool at once, so the fresh pool has room while a query still runs on the old one', async () => {
      expect((await t.request('POST', '/api/v1/integrations/small/invalidate')).status).toBe(200);
      await until(async () => (await t.request('GET', '/api/v1/integrations/small/status')).body.pools.draining === 0);
      const holder = await lockHolder(server, demo);
      await holder.query(`SELECT pg_advisory_lock(${LOCK})`);
      let busy: Promise<{ status: number }> | undefined;
      try {
        busy = t.request('POST', '/api/v1/integrations/small/query', busySql);
        await until(async () => (await blockedOf(demo)) === 1);
        // A second connection, idle once this query is done: the pool holds both of the integration's two.
        expect((await t.request('POST', '/api/v1/integrations/small/query', countSql)).status).toBe(200);
        expect((await t.request('GET', '/api/v1/integrations/small/status')).body.pools).toMatchObject({
          total: 2,
          idle: 1,
        });

        expect((await t.request('POST', '/api/v1/integrations/small/invalidate')).status).toBe(200);
        const next = await t.request('POST', '/api/v1/integrations/small/query', countSql);
        expect(next.body).toEqual(expect.objectContaining({ rows: [{ one: 1 }] }));
        expect((await t.request('GET', '/api/v1/integrations/small/status')).body.pools.connections).toEqual({
          active: 0,
          idle: 1,
          draining: 1,
        });
      } finally {
        await holder.query(`SELECT pg_advisory_unlock(${LOCK})`);
        await holder.end();
      }
      expect((await busy)?.status).toBe(200);
    });
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresIntegration, secretsWorkflow } from '../support/config-dir.js';
import { logLines, query, rdsSecret, status } from '../support/integration-probes.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** Polls `check` until it holds, up to `tries` times; returns whether it did. */
async function eventually(check: () => Promise<boolean> | boolean, tries = 100, everyMs = 50): Promise<boolean> {
  for (let i = 0; i < tries; i += 1) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

/** Backends of a role, optionally only those running `sql`. */
const backendsOf = (role: string, sql?: string) =>
  asSuperuser(async (c) => {
    const r = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND ($2::text IS NULL OR (query = $2 AND state = 'active'))`,
      [role, sql ?? null],
    );
    return r.rows[0]?.n ?? 0;
  });

describe('retiring a pool strands no queued query', () => {
  let db: TestDatabase;
  let t: TestAgent;
  const SLOW = 'SELECT pg_sleep(1) AS slept';
  const QUEUED = 'SELECT 2 AS queued';

  beforeAll(async () => {
    db = await createTestDatabase('retire');
    t = await startTestAgent(
      {
        workflows: { getSecrets: secretsWorkflow('getSecrets', 'retireSecret') },
        integrations: { single: postgresIntegration('single') },
      },
      { CREDFLOW_POOL_MAX: '1' },
    );
    t.secrets.createSecret('retireSecret', rdsSecret(db));
  });

  afterAll(async () => {
    await t?.close();
  });

  it('lets a running and a queued query both finish with 200 when the pool is invalidated between them, then ends the old pool', async () => {
    expect((await query(t, 'single', 'SELECT 1 AS one')).status).toBe(200);

    const slow = query(t, 'single', SLOW);
    expect(await eventually(async () => (await backendsOf(db.username, SLOW)) > 0)).toBe(true);
    const queued = query(t, 'single', QUEUED);
    // The only connection is busy: the second query waits in the pool's queue.
    expect(await eventually(async () => (await status(t, 'single')).body.pools?.waiting === 1)).toBe(true);

    const invalidated = await t.request('POST', '/api/v1/integrations/single/invalidate', {});
    expect(invalidated.status).toBe(200);
    expect(invalidated.body).toEqual({ integration: 'single', droppedResponses: 1, drainedPools: 1 });

    const [slowRes, queuedRes] = await Promise.all([slow, queued]);
    expect(slowRes.status).toBe(200);
    expect(slowRes.body.rowCount).toBe(1);
    expect(queuedRes.status).toBe(200);
    expect(queuedRes.body.rows).toEqual([{ queued: 2 }]);

    // A new pool serves the next query; the retired one ended once its queries were done.
    expect((await query(t, 'single', 'SELECT 3 AS three')).status).toBe(200);
    expect(await eventually(async () => (await backendsOf(db.username)) === 1)).toBe(true);
    expect(
      logLines(t).some((l) => l.event === 'pool.retire' && l.integration === 'single' && l.reason === 'invalidated'),
    ).toBe(true);
  });
});

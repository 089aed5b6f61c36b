import { SecretsManagerClient, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresIntegration, secretsWorkflow } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../support/test-database.js';

const POOL_MAX = 5;
const AUTH_RETRIES = 2;
/** Time between the two steps of a rotation: both well within the default rotationWaitMs (5000). */
const GAPS_MS = [200, 2000];
/**
 * The `lagging` integration waits 1.5 s at most; its store lags behind 3 s. A query refused just
 * after the store caught up joins the wait, whose next fetch comes within 1 s (the longest spacing):
 * well within its own 1.5 s.
 */
const LAGGING_WAIT_MS = 1500;
const LAGGING_GAP_MS = 3000;
const WRONG_LATER_WAIT_MS = 800;

const rdsSecret = (db: TestDatabase, overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password: db.password,
    dbname: db.dbname,
    ...overrides,
  });

/** A new password with the characters that must survive templates byte for byte. */
const freshPassword = () => `Rot-${randomBytes(9).toString('base64url')}&<>"'{}<<{{y}}`;

/** The forms a password could leak in: as is, and escaped inside a JSON string. */
const leakForms = (password: string) => [password, JSON.stringify(password).slice(1, -1)];

type Order = 'db-first' | 'secret-first';

interface Rotation {
  integration: string;
  order: Order;
  terminate: boolean;
}

const rotations: Rotation[] = [
  { integration: 'rotate-db-first', order: 'db-first', terminate: false },
  { integration: 'rotate-db-first-terminated', order: 'db-first', terminate: true },
  { integration: 'rotate-secret-first', order: 'secret-first', terminate: false },
  { integration: 'rotate-secret-first-terminated', order: 'secret-first', terminate: true },
];

const workflowFor = (integration: string) => `get-${integration}`;
const secretFor = (integration: string) => `${integration}-secret`;

/** One request of a query stream, with when it started and ended (performance.now()). */
interface Sample {
  loop: number;
  startedAt: number;
  endedAt: number;
  status: number;
  body: any;
  text: string;
}

interface QueryStream {
  readonly samples: Sample[];
  /** performance.now() when stop() was called. */
  readonly stoppedAt: number;
  /** Waits (bounded) until `count` more requests have completed. */
  waitForMore(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** `loops` clients, each sending one query after another until stopped (or a per-loop cap). */
function startStream(t: TestAgent, integration: string, sql: string, loops: number, maxPerLoop = 3000): QueryStream {
  const samples: Sample[] = [];
  let stopped = false;
  const done = Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      for (let i = 0; i < maxPerLoop && !stopped; i += 1) {
        const startedAt = performance.now();
        const res = await t.request('POST', `/api/v1/integrations/${integration}/query`, { sql });
        samples.push({
          loop,
          startedAt,
          endedAt: performance.now(),
          status: res.status,
          body: res.body,
          text: res.text,
        });
      }
    }),
  );
  let finished = false;
  let stoppedAt = Number.NaN;
  void done.finally(() => (finished = true));
  return {
    samples,
    get stoppedAt() {
      return stoppedAt;
    },
    async waitForMore(count, timeoutMs = 5_000) {
      const target = samples.length + count;
      const deadline = Date.now() + timeoutMs;
      while (samples.length < target && !finished && Date.now() < deadline) await sleep(5);
    },
    async stop() {
      stoppedAt = performance.now();
      stopped = true;
      await done;
    },
  };
}

/** Sums the samples of a Prometheus metric whose labels include `labels`. */
async function metric(t: TestAgent, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await t.request('GET', '/metrics');
  expect(res.status).toBe(200);
  let sum = 0;
  for (const line of res.text.split('\n')) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => got[key] === value)) sum += Number(match[3]);
  }
  return sum;
}

const logEvents = (t: TestAgent, event: string): Record<string, any>[] =>
  t.logs.lines.map((line) => JSON.parse(line) as Record<string, any>).filter((entry) => entry.event === event);

const getSecretValueCalls = (t: TestAgent, secretId: string) =>
  t.secrets.requests.filter((r) => r.operation === 'GetSecretValue' && r.secretId === secretId).length;

const query = (t: TestAgent, integration: string, sql: string, params?: unknown[]) =>
  t.request('POST', `/api/v1/integrations/${integration}/query`, params ? { sql, params } : { sql });

async function alterPassword(admin: pg.Client, user: string, password: string): Promise<void> {
  await admin.query(`ALTER ROLE ${admin.escapeIdentifier(user)} PASSWORD ${admin.escapeLiteral(password)}`);
}

async function terminateConnectionsOf(admin: pg.Client, user: string): Promise<number> {
  const res = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [user]);
  return res.rowCount ?? 0;
}

/** The queries that waited out a rotation window, by outcome (the wait metric's counts). */
async function rotationWaits(t: TestAgent, integration: string) {
  const count = (outcome: string) =>
    metric(t, 'credflow_rotation_wait_duration_seconds_count', { integration, outcome });
  return { rotated: await count('rotated'), timeout: await count('timeout'), cancelled: await count('cancelled') };
}

interface RotationPlan {
  order: Order;
  /** Terminate the role's sessions right after ALTER ROLE (a failover, a restart). */
  terminate: boolean;
  /** Between the end of the first step and the start of the second. */
  gapMs: number;
  newPassword: string;
  secret: string;
  /** Runs during the gap (which lasts at least gapMs). */
  duringGap?: () => Promise<void>;
}

/**
 * Rotates `target`'s password in two steps, the database's (ALTER ROLE) and the store's
 * (PutSecretValue), in the order given; returns when the first started and the second finished
 * (performance.now()).
 */
async function rotate(t: TestAgent, target: TestDatabase, plan: RotationPlan) {
  return asSuperuser(async (admin) => {
    const alterRole = async () => {
      await alterPassword(admin, target.username, plan.newPassword);
      if (plan.terminate) expect(await terminateConnectionsOf(admin, target.username)).toBeGreaterThan(0);
    };
    const putSecret = async () => {
      t.secrets.putSecretValue(plan.secret, { SecretString: rdsSecret(target, { password: plan.newPassword }) });
      return Promise.resolve();
    };
    const [first, second] = plan.order === 'db-first' ? [alterRole, putSecret] : [putSecret, alterRole];
    const firstStarted = performance.now();
    await first();
    await Promise.all([sleep(plan.gapMs), plan.duringGap?.()]);
    await second();
    return { firstStarted, secondFinished: performance.now() };
  });
}

/** Polls (bounded) until `check` holds; returns whether it did. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}

describe('credential lifecycle under rotation, against real PostgreSQL and a Secrets Manager endpoint', () => {
  let t: TestAgent;
  const dbs = new Map<string, TestDatabase>();
  const db = (name: string): TestDatabase => {
    const found = dbs.get(name);
    if (!found) throw new Error(`no test database for ${name}`);
    return found;
  };

  beforeAll(async () => {
    // Sequential: each makes a role and a database of its own, so no test sees another's connections.
    const names = ['cold', 'wrong', 'wrong-later', 'lagging', 'early', 'drain', 'cut', 'staged'];
    for (const name of [...names, ...rotations.map((r) => r.integration)]) {
      dbs.set(name, await createTestDatabase(`rot_${name.replace(/-/g, '_').slice(0, 12)}`));
    }
    const workflows: Record<string, unknown> = {
      getCold: secretsWorkflow('getCold', 'coldSecret'),
      getColdMissing: secretsWorkflow('getColdMissing', 'noSuchColdSecret'),
      getWrongStays: secretsWorkflow('getWrongStays', 'wrongStaysSecret'),
      getWrongLater: secretsWorkflow('getWrongLater', 'wrongLaterSecret'),
      getLagging: secretsWorkflow('getLagging', 'laggingSecret'),
      getEarly: secretsWorkflow('getEarly', 'earlySecret'),
      getDrain: secretsWorkflow('getDrain', 'drainSecret'),
      getCut: secretsWorkflow('getCut', 'cutSecret'),
      getStaged: {
        name: 'getStaged',
        params: { secretName: 'stagedSecret', stage: 'AWSCURRENT', region: 'us-east-1' },
        steps: [
          {
            name: 'fetch',
            code: 'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName, VersionStage: params.stage, region: params.region }); return JSON.parse(r.SecretString);',
          },
        ],
      },
    };
    const integrations: Record<string, unknown> = {
      cold: postgresIntegration('cold', 'getCold'),
      'cold-missing': postgresIntegration('cold-missing', 'getColdMissing'),
      'wrong-stays': postgresIntegration('wrong-stays', 'getWrongStays'),
      'wrong-later': {
        ...postgresIntegration('wrong-later', 'getWrongLater'),
        fetchCredentialsDynamically: { enabled: true, workflow: 'getWrongLater', rotationWaitMs: WRONG_LATER_WAIT_MS },
      },
      early: postgresIntegration('early', 'getEarly'),
      lagging: {
        ...postgresIntegration('lagging', 'getLagging'),
        fetchCredentialsDynamically: { enabled: true, workflow: 'getLagging', rotationWaitMs: LAGGING_WAIT_MS },
      },
      drain: postgresIntegration('drain', 'getDrain'),
      cut: postgresIntegration('cut', 'getCut'),
      'staged-current': postgresIntegration('staged-current', 'getStaged'),
      'staged-pending': {
        ...postgresIntegration('staged-pending', 'getStaged'),
        fetchCredentialsDynamically: { enabled: true, workflow: 'getStaged', params: { stage: 'AWSPENDING' } },
      },
    };
    for (const { integration } of rotations) {
      workflows[workflowFor(integration)] = secretsWorkflow(workflowFor(integration), secretFor(integration));
      integrations[integration] = postgresIntegration(integration, workflowFor(integration));
    }
    // The default cache TTL (300 s) stays: credentials change only through the auth-failure path here.
    t = await startTestAgent(
      { workflows, integrations },
      { CREDFLOW_POOL_MAX: String(POOL_MAX), CREDFLOW_AUTH_RETRIES: String(AUTH_RETRIES) },
    );
    t.secrets.createSecret('coldSecret', { SecretString: rdsSecret(db('cold')) });
    t.secrets.createSecret('wrongStaysSecret', {
      SecretString: rdsSecret(db('wrong'), { password: 'Not-the-password-&<>"\'{}' }),
    });
    t.secrets.createSecret('drainSecret', { SecretString: rdsSecret(db('drain')) });
    t.secrets.createSecret('wrongLaterSecret', { SecretString: rdsSecret(db('wrong-later')) });
    t.secrets.createSecret('laggingSecret', { SecretString: rdsSecret(db('lagging')) });
    t.secrets.createSecret('earlySecret', { SecretString: rdsSecret(db('early')) });
    t.secrets.createSecret('cutSecret', { SecretString: rdsSecret(db('cut')) });
    for (const { integration } of rotations)
      t.secrets.createSecret(secretFor(integration), { SecretString: rdsSecret(db(integration)) });
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('single-flight', () => {
    it('runs the workflow once and calls GetSecretValue once for 200 concurrent queries at a cold integration, on one pool', async ({
      annotate,
    }) => {
      const n = 200;
      const poolsBefore = await metric(t, 'credflow_pools');
      // A slow secret store keeps the one load in flight while the 200 requests arrive.
      t.secrets.setFaults({ latencyMs: 300, operations: ['GetSecretValue'] });
      const responses = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          query(t, 'cold', 'SELECT $1::int AS i, count(*)::int AS widgets FROM widgets', [i]),
        ),
      ).finally(() => t.secrets.clearFaults());

      const failed = responses.filter((r) => r.status !== 200).map((r) => r.text);
      expect(failed).toEqual([]);
      responses.forEach((r, i) => expect(r.body.rows).toEqual([{ i, widgets: 3 }]));

      const getSecretValue = getSecretValueCalls(t, 'coldSecret');
      const runsOk = await metric(t, 'credflow_workflow_run_duration_seconds_count', {
        workflow: 'getCold',
        outcome: 'ok',
      });
      const runsAll = await metric(t, 'credflow_workflow_run_duration_seconds_count', { workflow: 'getCold' });
      const runLines = logEvents(t, 'workflow.run').filter((e) => e.workflow === 'getCold');
      const resolutions = logEvents(t, 'credentials.resolve').filter((e) => e.integration === 'cold');
      const poolsCreated = logEvents(t, 'pool.create').filter((e) => e.integration === 'cold').length;
      const poolsAfter = await metric(t, 'credflow_pools');
      const connections = await metric(t, 'credflow_pool_connections', { integration: 'cold', state: 'total' });
      const status = await t.request('GET', '/api/v1/integrations/cold/status');

      expect(getSecretValue).toBe(1);
      expect(runsOk).toBe(1);
      expect(runsAll).toBe(1);
      expect(runLines).toHaveLength(1);
      expect(runLines[0]).toMatchObject({ outcome: 'ok', integration: 'cold' });
      // One resolution each; those that arrived while the load was in flight waited for it (miss),
      // any later ones found its result (hit).
      const misses = resolutions.filter((e) => e.cache === 'miss').length;
      const hits = resolutions.filter((e) => e.cache === 'hit').length;
      expect(resolutions).toHaveLength(n);
      expect(resolutions.every((e) => e.outcome === 'ok')).toBe(true);
      expect(misses + hits).toBe(n);
      expect(misses).toBeGreaterThan(1);
      expect(poolsCreated).toBe(1);
      expect(poolsAfter - poolsBefore).toBe(1);
      expect(connections).toBeGreaterThan(0);
      expect(connections).toBeLessThanOrEqual(POOL_MAX);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ cached: true, workflow: 'getCold' });
      expect(status.body.pools.total).toBeGreaterThan(0);
      expect(status.body.pools.total).toBeLessThanOrEqual(POOL_MAX);
      await annotate(
        `${n} concurrent queries: ${n} x 200; GetSecretValue=${getSecretValue}; workflow runs (metric ok)=${runsOk}; workflow.run log lines=${runLines.length}; ` +
          `resolutions: ${misses} joined the load (miss), ${hits} hit; pools created=${poolsCreated}; pool connections=${connections} (max ${POOL_MAX})`,
      );

      // Warm now: more queries reuse the response and the pool.
      const again = await query(t, 'cold', 'SELECT 1 AS one');
      expect(again.status).toBe(200);
      expect(getSecretValueCalls(t, 'coldSecret')).toBe(1);
    });

    it('gives all 200 concurrent queries the same error, from one GetSecretValue request, when the cold load fails', async ({
      annotate,
    }) => {
      const n = 200;
      t.secrets.setFaults({ latencyMs: 300, operations: ['GetSecretValue'] });
      const responses = await Promise.all(
        Array.from({ length: n }, () => query(t, 'cold-missing', 'SELECT 1')),
      ).finally(() => t.secrets.clearFaults());

      expect(responses.map((r) => r.status)).toEqual(Array(n).fill(502));
      const errors = new Set(responses.map((r) => JSON.stringify(r.body.error)));
      expect(errors.size).toBe(1);
      const [error] = responses.map((r) => r.body.error);
      expect(error.code).toBe('WORKFLOW_FAILED');
      expect(error.message).toContain('ResourceNotFoundException');
      const calls = getSecretValueCalls(t, 'noSuchColdSecret');
      const runs = await metric(t, 'credflow_workflow_run_duration_seconds_count', { workflow: 'getColdMissing' });
      const runLines = logEvents(t, 'workflow.run').filter((e) => e.workflow === 'getColdMissing');
      expect(calls).toBe(1);
      expect(runs).toBe(1);
      expect(runLines).toHaveLength(1);
      expect(runLines[0]).toMatchObject({ outcome: 'error' });
      expect(logEvents(t, 'pool.create').filter((e) => e.integration === 'cold-missing')).toEqual([]);
      await annotate(
        `${n} concurrent queries at a missing secret: ${n} x 502 ${error.code}, ${errors.size} distinct error; GetSecretValue=${calls}; workflow runs=${runs}`,
      );
    });
  });

  describe('rotation without failed queries', () => {
    for (const gapMs of GAPS_MS) {
      for (const rotation of rotations) {
        const { integration, order, terminate } = rotation;
        const steps = order === 'db-first' ? 'ALTER ROLE, then PutSecretValue' : 'PutSecretValue, then ALTER ROLE';
        it(`no query fails and the workflow runs at most once per 250 ms meanwhile (${steps} ${gapMs} ms later${terminate ? ', role connections terminated' : ''})`, async ({
          annotate,
        }) => {
          const target = db(integration);
          const oldPassword = target.password;
          const newPassword = freshPassword();
          const waitsBefore = await rotationWaits(t, integration);
          const callsBefore = getSecretValueCalls(t, secretFor(integration));
          const poolsCreatedBefore = logEvents(t, 'pool.create').filter((e) => e.integration === integration).length;
          let pendingSeen: string | undefined;

          const stream = startStream(t, integration, 'SELECT count(*)::int AS widgets FROM widgets', 4);
          await stream.waitForMore(40);
          const marks = await rotate(t, target, {
            order,
            terminate,
            gapMs,
            newPassword,
            secret: secretFor(integration),
            // Mid-window, the wait shows in the status (when one begins: in order db-first with
            // sessions cut). The second step waits for it: a gap a little longer is still a window.
            duringGap: async () => {
              if (order !== 'db-first' || !terminate) return;
              await eventually(async () => {
                const status = await t.request('GET', `/api/v1/integrations/${integration}/status`);
                pendingSeen = status.body.rotationPendingSince as string | undefined;
                return pendingSeen !== undefined;
              }, 2_000);
            },
          });
          await stream.waitForMore(100);
          await stream.stop();
          target.password = newPassword;

          const { samples } = stream;
          const failures = samples.filter((s) => s.status !== 200).map((s) => s.text);
          expect(failures).toEqual([]);
          const afterBoth = samples.filter((s) => s.startedAt > marks.secondFinished);
          expect(afterBoth.length).toBeGreaterThanOrEqual(40);
          const last = [...samples].sort((a, b) => a.endedAt - b.endedAt).slice(-40);
          expect(last.every((s) => s.body.rows[0].widgets === 3)).toBe(true);

          // Every workflow run in the case fell between the first step and the end of the stream;
          // spaced at least 250 ms apart, plus the one reload a refusal makes before it waits.
          const calls = getSecretValueCalls(t, secretFor(integration)) - callsBefore;
          const windowMs = stream.stoppedAt - marks.firstStarted;
          expect(calls).toBeLessThanOrEqual(2 + Math.ceil(windowMs / 250));
          const waits = await rotationWaits(t, integration);
          expect(waits.timeout).toBe(waitsBefore.timeout);
          const status = await t.request('GET', `/api/v1/integrations/${integration}/status`);
          expect(status.body.rotationPendingSince).toBeUndefined();
          if (order === 'db-first' && terminate) {
            // Sessions cut while the store lagged: queries had to wait, and did, together.
            expect(pendingSeen).toBeDefined();
            expect(waits.rotated).toBeGreaterThan(waitsBefore.rotated);
            expect(logEvents(t, 'credentials.rotation-wait').filter((e) => e.integration === integration)).toEqual(
              expect.arrayContaining([expect.objectContaining({ phase: 'end', outcome: 'rotated' })]),
            );
          }

          // The new password is what the agent uses from now on: with every old session gone, a fresh
          // connection is refused the old password and the agent recovers through a retry on its own.
          const proof = await asSuperuser(async (admin) => {
            await terminateConnectionsOf(admin, target.username);
            return eventually(
              async () =>
                (await admin.query('SELECT 1 FROM pg_stat_activity WHERE usename = $1', [target.username])).rowCount ===
                0,
            );
          });
          expect(proof).toBe(true);
          const fresh = await query(t, integration, 'SELECT current_user AS who');
          expect(fresh.status).toBe(200);
          expect(fresh.body.rows).toEqual([{ who: target.username }]);

          const logs = t.logs.text();
          for (const secret of [...leakForms(oldPassword), ...leakForms(newPassword)])
            expect(logs).not.toContain(secret);
          const poolsCreated =
            logEvents(t, 'pool.create').filter((e) => e.integration === integration).length - poolsCreatedBefore;
          await annotate(
            `${order}${terminate ? ' + terminate' : ''}, ${gapMs} ms apart: ${samples.length} queries, ${failures.length} failed, ` +
              `${afterBoth.length} after both steps; GetSecretValue during the case=${calls} over ${Math.round(windowMs)} ms; ` +
              `waits rotated=${waits.rotated - waitsBefore.rotated}; pools created=${poolsCreated}`,
          );
        });
      }
    }

    it('fails the queries of a window longer than rotationWaitMs with an error saying how long they waited and how often the store was asked, and recovers once the store has the new password', async ({
      annotate,
    }) => {
      const target = db('lagging');
      const newPassword = freshPassword();
      const warm = await query(t, 'lagging', 'SELECT 1 AS one');
      expect(warm.status).toBe(200);
      const waitsBefore = await rotationWaits(t, 'lagging');
      const callsBefore = getSecretValueCalls(t, 'laggingSecret');
      const stream = startStream(t, 'lagging', 'SELECT count(*)::int AS widgets FROM widgets', 4);
      await stream.waitForMore(40);
      let shortDeadline: Awaited<ReturnType<typeof query>> | undefined;
      let cancelled = false;
      const marks = await rotate(t, target, {
        order: 'db-first',
        terminate: true,
        gapMs: LAGGING_GAP_MS,
        newPassword,
        secret: 'laggingSecret',
        duringGap: async () => {
          // A request's own deadline ends its wait sooner than the integration's bound.
          shortDeadline = await t.request('POST', '/api/v1/integrations/lagging/query', {
            sql: 'SELECT 1',
            timeoutMs: 600,
          });
          // So does a client that goes away while it waits.
          const abort = new AbortController();
          const gone = fetch(`${t.url}/api/v1/integrations/lagging/query`, {
            method: 'POST',
            headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ sql: 'SELECT 1' }),
            signal: abort.signal,
          }).catch(() => undefined);
          await sleep(100);
          abort.abort();
          await gone;
          cancelled = await eventually(
            async () => (await rotationWaits(t, 'lagging')).cancelled > waitsBefore.cancelled,
            LAGGING_WAIT_MS,
          );
        },
      });
      await stream.waitForMore(60);
      await stream.stop();
      target.password = newPassword;

      const failures = stream.samples.filter((s) => s.status !== 200);
      expect(failures.length).toBeGreaterThan(0);
      for (const failure of failures) {
        expect(failure.status).toBe(502);
        expect(failure.body.error.code).toBe('DB_AUTH_FAILED');
        expect(failure.body.error.message).toMatch(
          /refused the credentials.*\(waited \d+ ms for the secret store to return other credentials and fetched them (once|\d+ times): it still returns the ones the database refused\)/,
        );
        expect(failure.body.error.details.sqlstate).toBe('28P01');
        const wait = failure.body.error.details.rotationWait;
        expect(wait.outcome).toBe('timeout');
        expect(wait.waitedMs).toBeGreaterThanOrEqual(LAGGING_WAIT_MS);
        expect(wait.fetches).toBeGreaterThanOrEqual(1);
        // Only queries refused while the store lagged behind.
        expect(failure.startedAt).toBeLessThan(marks.secondFinished);
      }
      expect(shortDeadline?.status).toBe(502);
      expect(shortDeadline?.body.error.details.rotationWait.outcome).toBe('timeout');
      expect(shortDeadline?.body.error.details.rotationWait.waitedMs).toBeLessThan(LAGGING_WAIT_MS);
      expect(cancelled).toBe(true);
      const last = [...stream.samples].sort((a, b) => a.endedAt - b.endedAt).slice(-20);
      expect(last.every((s) => s.status === 200)).toBe(true);

      const calls = getSecretValueCalls(t, 'laggingSecret') - callsBefore;
      const windowMs = stream.stoppedAt - marks.firstStarted;
      expect(calls).toBeLessThanOrEqual(2 + Math.ceil(windowMs / 250));
      const waits = await rotationWaits(t, 'lagging');
      expect(waits.timeout).toBeGreaterThan(waitsBefore.timeout);
      const refetches = await metric(t, 'credflow_rotation_refetches_total', { integration: 'lagging' });
      expect(refetches).toBeGreaterThan(0);
      await annotate(
        `db-first + terminate, ${LAGGING_GAP_MS} ms apart, rotationWaitMs ${LAGGING_WAIT_MS}: ${stream.samples.length} queries, ` +
          `${failures.length} failed with the clear error; GetSecretValue during the case=${calls} over ${Math.round(windowMs)} ms; ` +
          `waits timeout=${waits.timeout - waitsBefore.timeout}, rotated=${waits.rotated - waitsBefore.rotated}, cancelled=${waits.cancelled - waitsBefore.cancelled}`,
      );
    });

    it('lets queries through once the database accepts credentials the agent took from the store before the database changed', async ({
      annotate,
    }) => {
      const target = db('early');
      const newPassword = freshPassword();
      expect((await query(t, 'early', 'SELECT 1 AS one')).status).toBe(200);
      const waitsBefore = await rotationWaits(t, 'early');
      const stream = startStream(t, 'early', 'SELECT count(*)::int AS widgets FROM widgets', 4);
      await stream.waitForMore(40);
      // The store changes first, and the agent takes the new password at once (an invalidation
      // here; a refresh or a new profile would do the same). Until ALTER ROLE, the database
      // refuses it, and queries needing a new connection wait.
      t.secrets.putSecretValue('earlySecret', { SecretString: rdsSecret(target, { password: newPassword }) });
      expect((await t.request('POST', '/api/v1/integrations/early/invalidate')).status).toBe(200);
      const pending = await eventually(async () => {
        const status = await t.request('GET', '/api/v1/integrations/early/status');
        return status.body.rotationPendingSince !== undefined;
      });
      expect(pending).toBe(true);
      await sleep(500);
      await asSuperuser((admin) => alterPassword(admin, target.username, newPassword));
      const alteredAt = performance.now();
      await stream.waitForMore(100);
      await stream.stop();
      target.password = newPassword;

      const failures = stream.samples.filter((s) => s.status !== 200).map((s) => s.text);
      expect(failures).toEqual([]);
      expect(stream.samples.filter((s) => s.startedAt > alteredAt).length).toBeGreaterThanOrEqual(40);
      const waits = await rotationWaits(t, 'early');
      expect(waits.rotated).toBeGreaterThan(waitsBefore.rotated);
      expect(waits.timeout).toBe(waitsBefore.timeout);
      await annotate(
        `store first, taken by the agent, database 500 ms later: ${stream.samples.length} queries, 0 failed; waits rotated=${waits.rotated - waitsBefore.rotated}`,
      );
    });

    it('does not hide a wrong secret: with no rotation going on, a query fails after rotationWaitMs with the same clear error', async () => {
      const target = db('wrong-later');
      const warm = await query(t, 'wrong-later', 'SELECT 1 AS one');
      expect(warm.status).toBe(200);
      // Someone stores a wrong password; the database never changed.
      t.secrets.putSecretValue('wrongLaterSecret', {
        SecretString: rdsSecret(target, { password: 'Wrong-&<>"\'{}-later' }),
      });
      expect((await t.request('POST', '/api/v1/integrations/wrong-later/invalidate')).status).toBe(200);
      const callsBefore = getSecretValueCalls(t, 'wrongLaterSecret');
      const res = await query(t, 'wrong-later', 'SELECT 1');
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe('DB_AUTH_FAILED');
      expect(res.body.error.message).toMatch(/refused the credentials/);
      expect(res.body.error.message).toMatch(/it still returns the ones the database refused/);
      expect(res.body.error.details.rotationWait).toMatchObject({ outcome: 'timeout' });
      expect(res.body.error.details.rotationWait.waitedMs).toBeGreaterThanOrEqual(WRONG_LATER_WAIT_MS);
      expect(res.text).not.toContain('Wrong-');
      const calls = getSecretValueCalls(t, 'wrongLaterSecret') - callsBefore;
      // The load, the reload, then one fetch per 250 ms at most while it waited.
      expect(calls).toBeGreaterThanOrEqual(3);
      expect(calls).toBeLessThanOrEqual(3 + Math.ceil(res.body.error.details.rotationWait.waitedMs / 250));
    });
  });

  it('reruns a statement cut off by pg_terminate_backend on a fresh connection, not on the dead one', async () => {
    const target = db('cut');
    const warm = await query(t, 'cut', 'SELECT pg_backend_pid() AS pid');
    expect(warm.status).toBe(200);
    const cutPid = warm.body.rows[0].pid as number;
    // The pool's only connection runs this statement when its backend is terminated.
    const long = query(t, 'cut', 'SELECT pg_backend_pid() AS pid, pg_sleep(0.3)::text AS slept');
    await asSuperuser(async (admin) => {
      const running = await eventually(
        async () =>
          (
            await admin.query(
              "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
              [cutPid],
            )
          ).rowCount === 1,
      );
      expect(running).toBe(true);
      expect(await terminateConnectionsOf(admin, target.username)).toBe(1);
    });
    const res = await long;
    expect(res.body.error).toBeUndefined();
    expect(res.status).toBe(200);
    expect(res.body.rows[0].pid).not.toBe(cutPid);
  });

  it('fails at once with DB_AUTH_FAILED after a bounded number of fetches when the secret store returns a password the database never accepted', async () => {
    const res = await query(t, 'wrong-stays', 'SELECT 1');
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('DB_AUTH_FAILED');
    expect(res.body.error.message).toMatch(/refused the credentials/);
    expect(res.body.error.message).toMatch(/the secret store still returns the ones the database refused/);
    expect(res.body.error.details.sqlstate).toBe('28P01');
    // Nothing ever worked with this secret: not a rotation, so no wait.
    expect(res.body.error.details.rotationWait).toMatchObject({ outcome: 'unchanged', waitedMs: 0 });
    expect(res.text).not.toContain('Not-the-password');
    const calls = getSecretValueCalls(t, 'wrongStaysSecret');
    // One load, then one reload on the first refusal that came back with the same credentials: no loop.
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(1 + AUTH_RETRIES);
    expect(await metric(t, 'credflow_auth_failure_retries_total', { integration: 'wrong-stays' })).toBeLessThanOrEqual(
      AUTH_RETRIES,
    );

    // A stream of such queries fails as fast, and asks the store at most once per 250 ms.
    const started = performance.now();
    const stream = startStream(t, 'wrong-stays', 'SELECT 1', 4, 50);
    await stream.waitForMore(200, 30_000);
    await stream.stop();
    const elapsedMs = performance.now() - started;
    const streamed = stream.samples;
    expect(streamed).toHaveLength(200);
    expect(streamed.every((s) => s.body?.error?.details?.rotationWait?.outcome === 'unchanged')).toBe(true);
    expect(getSecretValueCalls(t, 'wrongStaysSecret') - calls).toBeLessThanOrEqual(1 + Math.ceil(elapsedMs / 250));
  });

  it('refuses a query timeoutMs out of range, naming the field', async () => {
    const res = await t.request('POST', '/api/v1/integrations/wrong-stays/query', { sql: 'SELECT 1', timeoutMs: 0 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_REQUEST');
    expect(res.body.error.message).toMatch(/timeoutMs/);
  });

  it('lets a query running on a pool whose credentials were replaced finish, then closes that pool', async () => {
    const target = db('drain');
    const newPassword = freshPassword();
    const long = query(t, 'drain', 'SELECT pg_backend_pid() AS pid, pg_sleep(1.5)::text AS slept');

    await asSuperuser(async (admin) => {
      const running = await eventually(
        async () =>
          (
            await admin.query(
              "SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
              [target.username],
            )
          ).rowCount === 1,
      );
      expect(running).toBe(true);
      t.secrets.putSecretValue('drainSecret', { SecretString: rdsSecret(target, { password: newPassword }) });
      await alterPassword(admin, target.username, newPassword);
    });
    target.password = newPassword;

    // The old pool's only connection is busy: this query needs a new one, is refused the old
    // password, fetches the new one and runs on a new pool.
    const retriesBefore = await metric(t, 'credflow_auth_failure_retries_total', { integration: 'drain' });
    const next = await query(t, 'drain', 'SELECT pg_backend_pid() AS pid');
    expect(next.status).toBe(200);
    expect(await metric(t, 'credflow_auth_failure_retries_total', { integration: 'drain' })).toBeGreaterThan(
      retriesBefore,
    );
    expect(logEvents(t, 'pool.retire').filter((e) => e.integration === 'drain')).toMatchObject([
      { reason: 'credentials replaced' },
    ]);

    const done = await long;
    expect(done.status).toBe(200);
    const oldPid = done.body.rows[0].pid as number;
    expect(oldPid).not.toBe(next.body.rows[0].pid);

    const gone = await asSuperuser(async (admin) =>
      eventually(
        async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [oldPid])).rowCount === 0,
      ),
    );
    expect(gone).toBe(true);
    const status = await t.request('GET', '/api/v1/integrations/drain/status');
    const roleConnections = await asSuperuser(
      async (admin) =>
        (await admin.query('SELECT pid FROM pg_stat_activity WHERE usename = $1', [target.username])).rows,
    );
    expect(roleConnections.map((r) => r.pid)).not.toContain(oldPid);
    expect(roleConnections.length).toBe(status.body.pools.total);
  });

  it('serves AWSPENDING to a workflow that asks for it while AWSCURRENT is still served, and keeps queries succeeding through a two-user rotation', async ({
    annotate,
  }) => {
    const staged = db('staged');
    const userA = { ...staged };
    const userB = { ...staged, username: `${staged.username}_b`, password: freshPassword() };
    await asSuperuser(async (admin) => {
      await admin.query(
        `CREATE ROLE ${admin.escapeIdentifier(userB.username)} LOGIN PASSWORD ${admin.escapeLiteral(userB.password)}`,
      );
    });
    const { VersionId: currentVersion } = t.secrets.createSecret('stagedSecret', { SecretString: rdsSecret(userA) });
    // createSecret: the rotation's createSecret step puts the other user's credentials under AWSPENDING.
    const { VersionId: pendingVersion } = t.secrets.putSecretValue('stagedSecret', { SecretString: rdsSecret(userB) }, [
      'AWSPENDING',
    ]);

    const whoAmI = async (integration: string) => {
      const res = await query(t, integration, 'SELECT current_user AS who');
      expect(res.status, res.text).toBe(200);
      return res.body.rows[0].who as string;
    };
    expect(await whoAmI('staged-current')).toBe(userA.username);
    expect(await whoAmI('staged-pending')).toBe(userB.username);

    // finishSecret: AWSCURRENT moves to the pending version, through the SDK like a rotation Lambda.
    const stream = startStream(t, 'staged-current', 'SELECT current_user AS who', 2);
    await stream.waitForMore(20);
    const sdk = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: t.secrets.url,
      credentials: t.secrets.credentials,
    });
    try {
      await sdk.send(
        new UpdateSecretVersionStageCommand({
          SecretId: 'stagedSecret',
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: pendingVersion,
          RemoveFromVersionId: currentVersion,
        }),
      );
    } finally {
      sdk.destroy();
    }
    await stream.waitForMore(20);
    // The next rotation alternates: user A's password changes while B is current. Sessions of A
    // are cut; new connections with A's cached credentials are refused and the agent moves to B.
    await asSuperuser(async (admin) => {
      await alterPassword(admin, userA.username, freshPassword());
      await terminateConnectionsOf(admin, userA.username);
    });
    await stream.waitForMore(40);
    await stream.stop();

    const failures = stream.samples.filter((s) => s.status !== 200).map((s) => s.text);
    expect(failures).toEqual([]);
    const last = stream.samples.slice(-10);
    expect(last.every((s) => s.body.rows[0].who === userB.username)).toBe(true);
    expect(await whoAmI('staged-current')).toBe(userB.username);
    await annotate(
      `two-user rotation: ${stream.samples.length} queries, ${failures.length} failed; AWSCURRENT moved from ${userA.username} to ${userB.username}`,
    );
  });
});

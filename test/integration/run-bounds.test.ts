import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxWorkflowSteps } from '../../src/config/index.js';
import { CredflowError } from '../../src/errors.js';
import { SandboxWorkers } from '../../src/sandbox/index.js';
import { postgresIntegration, secretsWorkflow } from '../support/config-dir.js';
import { until } from '../support/sandbox-probes.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/**
 * Issue 19, section 3: one preview of a workflow of 60 steps, each logging 200 lines of 8,100
 * characters, answered 96.7 MB and took the agent from 95 to 677 MB; 12 at once had both sandbox
 * workers killed and most runs failed. Through the real app, its real worker processes, a local
 * Secrets Manager endpoint and PostgreSQL, with the agent's default limits.
 */

const MiB = 1024 * 1024;
/** The documented bounds (README, Security: "What is bounded"). */
const PREVIEW_MAX_BYTES = MiB;
const AGENT_RSS_GROWTH_MAX = 128 * MiB;
/** A worker: Node itself (64 MiB) and at most CONCURRENCY + PREWARM isolates of CREDFLOW_SANDBOX_MEMORY_MB each. */
const WORKER_RSS_MAX = 64 * MiB + (4 + 1) * 64 * MiB;

// As many steps as a workflow may have (the issue's 60 is over the limit), each 200 lines of 8,100 characters.
const flood = {
  name: 'flood',
  steps: Array.from({ length: maxWorkflowSteps }, (_, i) => ({
    name: `s${i}`,
    code: `const line = 'x'.repeat(8100); for (let i = 0; i < 200; i++) console.log(line); return { step: ${i} };`,
  })),
};
const small = { name: 'small', steps: [{ name: 'one', code: 'console.log("hello"); return { ok: true };' }] };

const rssOfPid = (pid: number): number => {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0; // the process is gone
  }
};

describe('12 previews at once of a workflow that logs 80 MB (issue 19, section 3)', () => {
  let t: TestAgent;
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('bounds');
    t = await startTestAgent({
      workflows: { flood, small, getSecrets: secretsWorkflow() },
      integrations: { orders: postgresIntegration('orders') },
    });
    t.secrets.createSecret('postgresSecrets', {
      SecretString: JSON.stringify({
        engine: 'postgres',
        host: db.host,
        port: db.port,
        username: db.username,
        password: db.password,
        dbname: db.dbname,
      }),
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('answers each within CREDFLOW_PREVIEW_MAX_BYTES with the run log limit said, keeps the agent and its workers within their memory bounds, and serves an innocent preview and a query meanwhile', async () => {
    // Warm: workers started, first run done, so what is measured is what the floods add.
    expect((await t.request('POST', '/api/v1/workflows/small/run', {})).status).toBe(200);
    const before = process.memoryUsage().rss;
    let agentPeak = before;
    const workerPeaks = new Map<number, number>();
    const sample = () => {
      agentPeak = Math.max(agentPeak, process.memoryUsage().rss);
      for (const pid of t.agent.parts.sandbox.pids())
        workerPeaks.set(pid, Math.max(workerPeaks.get(pid) ?? 0, rssOfPid(pid)));
    };
    const sampler = setInterval(sample, 10);

    const floods = Array.from({ length: 12 }, () => t.request('POST', '/api/v1/workflows/flood/run', {}));
    // Sent while the floods hold every slot: they wait their turn and succeed.
    await until(
      () => t.agent.parts.sandbox.queued() > 0,
      'the floods fill every worker slot and the queue holds the rest',
    );
    const innocent = t.request('POST', '/api/v1/workflows/small/run', {});
    const query = t.request('POST', '/api/v1/integrations/orders/query', {
      sql: 'SELECT name FROM widgets ORDER BY id',
    });
    const results = await Promise.all(floods);
    const [innocentRes, queryRes] = await Promise.all([innocent, query]);
    clearInterval(sampler);
    sample();

    for (const res of results) {
      expect(res.status, res.text.slice(0, 300)).toBe(200);
      expect(Buffer.byteLength(res.text)).toBeLessThanOrEqual(PREVIEW_MAX_BYTES);
      expect(res.body.response).toEqual({ step: maxWorkflowSteps - 1 });
      expect(res.body.steps).toHaveLength(maxWorkflowSteps);
      const lines: string[] = res.body.steps.flatMap((s: { logs: string[] }) => s.logs);
      expect(
        lines.some((l) =>
          /^\[warn\] \.\.\. \d+ more lines cut \(run log limit: 1000 lines or 262144 bytes per run\)$/.test(l),
        ),
      ).toBe(true);
      expect(lines.filter((l) => l === 'x'.repeat(8100)).length * 8100).toBeLessThanOrEqual(262144);
    }
    expect(innocentRes.status).toBe(200);
    expect(innocentRes.body.steps[0].logs).toEqual(['hello']);
    expect(queryRes.status, queryRes.text).toBe(200);
    expect(queryRes.body.rows).toEqual([{ name: 'sprocket' }, { name: 'gear' }, { name: 'flange' }]);

    const growth = agentPeak - before;
    process.stdout.write(
      `agent RSS ${Math.round(before / MiB)} -> peak ${Math.round(agentPeak / MiB)} MiB; workers' peak RSS ${[...workerPeaks.values()].map((r) => `${Math.round(r / MiB)} MiB`).join(', ')}; responses ${results.map((r) => r.text.length).join(', ')} bytes\n`,
    );
    expect(growth).toBeLessThanOrEqual(AGENT_RSS_GROWTH_MAX);
    expect(workerPeaks.size).toBeGreaterThan(0);
    for (const peak of workerPeaks.values()) expect(peak).toBeLessThanOrEqual(WORKER_RSS_MAX);
  }, 120_000);
});

describe('the sandbox queue (issue 19, section 3)', () => {
  let t: TestAgent;

  beforeAll(async () => {
    t = await startTestAgent(
      {
        workflows: {
          // Ends only at its deadline, holding the one slot there is until then.
          hold: { name: 'hold', steps: [{ name: 'spin', code: 'while (true) {}' }] },
          // Its own deadline is far shorter than the hold's.
          waiter: {
            name: 'waiter',
            limits: { runTimeoutMs: 500 },
            steps: [{ name: 'quick', code: 'return { quick: true };' }],
          },
          small,
        },
      },
      {
        CREDFLOW_SANDBOX_WORKERS: '1',
        CREDFLOW_SANDBOX_WORKER_CONCURRENCY: '1',
        CREDFLOW_SANDBOX_QUEUE_MAX: '1',
        CREDFLOW_STEP_TIMEOUT_MS: '4000',
        CREDFLOW_RUN_TIMEOUT_MS: '4000',
      },
    );
  });

  afterAll(async () => {
    await t?.close();
  });

  it('refuses a run past a full queue with 503 SANDBOX_BUSY and Retry-After, and fails a queued run whose deadline passes with WORKFLOW_TIMEOUT', async () => {
    const sandbox = t.agent.parts.sandbox;
    const hold = t.request('POST', '/api/v1/workflows/hold/run', {});
    await until(() => sandbox.status().some((w) => w.runs === 1), 'the hold run takes the only slot');
    const waiter = t.request('POST', '/api/v1/workflows/waiter/run', {});
    await until(() => sandbox.queued() === 1, 'the waiter run is queued');
    const metrics = await t.request('GET', '/metrics');
    expect(metrics.text).toMatch(/^credflow_sandbox_queued_runs 1$/m);

    const busy = await fetch(`${t.url}/api/v1/workflows/small/run`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.token}` },
    });
    const busyText = await busy.text();
    t.alsoSearch.push({ where: 'SANDBOX_BUSY response', text: busyText });
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(JSON.parse(busyText)).toEqual({
      error: {
        code: 'SANDBOX_BUSY',
        message:
          'workflow "small" was not started: every sandbox worker runs its most runs at once (1) and 1 runs are waiting; try again shortly',
        details: { workflow: 'small', queueMax: 1, retryAfterSeconds: 1 },
      },
    });

    const waited = await waiter;
    expect(waited.status).toBe(504);
    expect(waited.body.error.code).toBe('WORKFLOW_TIMEOUT');
    expect(waited.body.error.message).toBe(
      'workflow "waiter" waited for a sandbox worker past its run\'s time limit of 500 ms and did not start',
    );
    expect(sandbox.queued()).toBe(0);
    // The hold was still running all along: its own deadline ends it.
    expect(sandbox.status().some((w) => w.workflows.includes('hold'))).toBe(true);
    expect((await hold).body.error.code).toBe('WORKFLOW_TIMEOUT');

    const after = await t.request('POST', '/api/v1/workflows/small/run', {});
    expect(after.status).toBe(200);
  }, 30_000);
});

describe('the step count at run time (issue 19, section 3)', () => {
  it(`refuses a run of more than ${maxWorkflowSteps} steps without sending it to a worker`, async () => {
    const workers = new SandboxWorkers({ size: 1, prewarm: 0, memoryMb: 32, logger: pino({ level: 'silent' }) });
    try {
      const limits = {
        memoryMb: 32,
        stepTimeoutMs: 1000,
        runTimeoutMs: 1000,
        maxResponseBytes: 1000,
        maxBridgeCalls: 0,
        maxLogBytes: 100,
        maxLogLines: 10,
        maxRunLogBytes: 1024,
        maxRunLogLines: 10,
      };
      const steps = Array.from({ length: maxWorkflowSteps + 1 }, (_, i) => ({ name: `s${i}`, code: 'return 1;' }));
      const error = await workers
        .run({
          workflow: 'long',
          steps,
          input: { params: {}, env: {}, context: {} },
          limits,
          bridge: () => Promise.resolve(null),
        })
        .then((outcome) => (outcome.ok ? undefined : outcome.error));
      expect(error).toBeInstanceOf(CredflowError);
      expect((error as CredflowError).code).toBe('WORKFLOW_FAILED');
      expect((error as CredflowError).message).toBe(
        `workflow "long" has ${maxWorkflowSteps + 1} steps; a workflow may have at most ${maxWorkflowSteps}`,
      );
      expect(workers.pids()).toEqual([]);
    } finally {
      await workers.close();
    }
  });
});

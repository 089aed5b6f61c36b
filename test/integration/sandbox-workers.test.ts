import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  healthyWorkflow,
  innocentWorkflow,
  spinFor,
  until,
  workerExitLines,
  workerPids,
} from '../support/sandbox-probes.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';

/**
 * What happens to runs when a sandbox worker dies, through the real agent over HTTP, its real worker
 * processes and a local Secrets Manager endpoint. The limits leave a retried run time to finish.
 */

// Random-looking, as real passwords are: every six-character run of a secret is masked in messages.
const PASSWORD = 'Pw-q7Zx2Lm-8e1b"&<>c40d';
const limits = { memoryMb: 32, stepTimeoutMs: 10000, runTimeoutMs: 20000 };
const WORKERS = 2;
const BRIDGE_CALLS = 3;

const workflows: Record<string, Record<string, unknown>> = {
  healthy: healthyWorkflow,
  innocent: innocentWorkflow,
  // Spends the run's whole bridge budget, then computes for a while: still running when its worker dies.
  spender: {
    name: 'spender',
    steps: [
      {
        name: 'spend',
        code: `let ok = 0; const refused = [];
          for (let i = 0; i < ${BRIDGE_CALLS}; i++) {
            try { await aws.secretsManager.getSecretValue({ SecretId: 'app/db' }); ok++; } catch (e) { refused.push(e.name); }
          }
          ${spinFor(3000)} return { ok, refused };`,
      },
    ],
  },
  // More matches than a JS array may hold: V8 (Node 24) stops the whole worker process with a fatal
  // error (SIGTRAP) before allocating them, every time, in well under a second. (Node 24 no longer
  // aborts at once on new Array(2 ** 30).fill(0): that grows the worker past 1 GB for many seconds.)
  arrayBomb: {
    name: 'arrayBomb',
    steps: [{ name: 'attempt', code: "return 'a'.repeat(2 ** 27 + 8).match(/a/g).length;" }],
  },
  shortDeadline: {
    name: 'shortDeadline',
    limits: { runTimeoutMs: 1000, stepTimeoutMs: 1000 },
    steps: [{ name: 'quick', code: 'return { quick: true };' }],
  },
};

let t: TestAgent;

async function run(name: string): Promise<{ status: number; body: any; text: string }> {
  return t.request('POST', `/api/v1/workflows/${name}/run`, {});
}

const currentWorkerPids = (): Promise<number[]> => workerPids(t, WORKERS);

describe('runs of a sandbox worker that dies', () => {
  beforeAll(async () => {
    t = await startTestAgent(
      { workflows },
      {
        CREDFLOW_SANDBOX_MEMORY_MB: String(limits.memoryMb),
        CREDFLOW_STEP_TIMEOUT_MS: String(limits.stepTimeoutMs),
        CREDFLOW_RUN_TIMEOUT_MS: String(limits.runTimeoutMs),
        CREDFLOW_SANDBOX_WORKERS: String(WORKERS),
        CREDFLOW_SANDBOX_PREWARM: '1',
        CREDFLOW_SANDBOX_MAX_BRIDGE_CALLS: String(BRIDGE_CALLS),
      },
    );
    t.secrets.createSecret('app/db', { SecretString: JSON.stringify({ username: 'svc', password: PASSWORD }) });
    await currentWorkerPids();
  });

  afterAll(async () => {
    await t?.close();
  });

  it('sends the runs that shared a worker with a step that crashed it to fresh workers, where they succeed, and fails that step with WORKFLOW_FAILED', async () => {
    await currentWorkerPids();
    const before = workerExitLines(t).length;
    // One innocent run taken by each worker, then the crashing one joins a worker that holds an innocent.
    const innocents = [run('innocent'), run('innocent')];
    await until(
      () => t.agent.parts.sandbox.status().filter((w) => w.started === 1).length === WORKERS,
      'each worker took an innocent run',
    );
    const bomb = await run('arrayBomb');
    const results = await Promise.all(innocents);
    for (const res of results) {
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toEqual({ innocent: true, length: PASSWORD.length });
    }
    expect(bomb.status, bomb.text).toBe(502);
    expect(bomb.body.error.code).toBe('WORKFLOW_FAILED');
    expect(bomb.body.error.message).toBe(
      'workflow "arrayBomb" was abandoned: its sandbox worker stopped unexpectedly (signal SIGTRAP); the next run gets a new worker',
    );
    expect(bomb.body.error.details).toEqual({ workflow: 'arrayBomb', sandboxWorkerCrashed: true });
    // The first worker it crashed held an innocent run too: both were sent again. The fresh worker it
    // crashed next held it alone, and it was not sent again.
    const aborts = workerExitLines(t)
      .slice(before)
      .filter((l) => l.how === 'signal SIGTRAP');
    expect(aborts.map((l) => l.resentRuns)).toEqual([2, undefined]);
    expect(await currentWorkerPids()).toHaveLength(WORKERS);
    const after = await run('healthy');
    expect(after.status, after.text).toBe(200);
  });

  it('does not send a run again once its deadline has passed, and fails it', async () => {
    const pids = await currentWorkerPids();
    // Stopped workers read no message: the run waits in one of them, sent but not taken.
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      const pending = run('shortDeadline');
      await until(() => t.agent.parts.sandbox.status().some((w) => w.runs === 1), 'the run was never sent to a worker');
      // Past its 1000 ms deadline, before the agent's own timer (deadline + 2 s) stops the worker.
      await sleep(1300);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      const res = await pending;
      expect(res.status, res.text).toBe(502);
      expect(res.body.error.code).toBe('WORKFLOW_FAILED');
      expect(res.body.error.message).toBe(
        'workflow "shortDeadline" was abandoned: its sandbox worker stopped unexpectedly (signal SIGKILL); the next run gets a new worker',
      );
    } finally {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    await until(
      () => workerExitLines(t).filter((l) => pids.includes(l.pid ?? -1)).length === pids.length,
      'both workers exited',
    );
    expect(
      workerExitLines(t)
        .filter((l) => pids.includes(l.pid ?? -1))
        .map((l) => l.resentRuns),
    ).toEqual([undefined, undefined]);
    const fresh = await currentWorkerPids();
    expect(fresh.filter((pid) => pids.includes(pid))).toEqual([]);
    const after = await run('healthy');
    expect(after.status, after.text).toBe(200);
  });

  it('gives a run sent again after its worker died only what is left of its bridge budget, not a new one', async () => {
    const pids = await currentWorkerPids();
    const before = t.secrets.countRequests('GetSecretValue');
    // One spender on each worker; both spend their whole budget, then compute.
    const spenders = [run('spender'), run('spender')];
    await until(
      () => t.secrets.countRequests('GetSecretValue') - before === 2 * BRIDGE_CALLS,
      'both spenders spent their budget',
    );
    const victim = t.agent.parts.sandbox.status().find((w) => w.started === 1 && pids.includes(w.pid));
    expect(victim, 'a worker holding a spender').toBeDefined();
    process.kill(victim!.pid, 'SIGKILL');
    const results = await Promise.all(spenders);
    for (const res of results) expect(res.status, res.text).toBe(200);
    const responses = results.map((r) => r.body.response).sort((a, b) => b.ok - a.ok);
    // The run on the surviving worker kept its calls; the run sent again found its budget spent.
    expect(responses).toEqual([
      { ok: BRIDGE_CALLS, refused: [] },
      { ok: 0, refused: Array(BRIDGE_CALLS).fill('LimitExceededException') },
    ]);
    expect(t.secrets.countRequests('GetSecretValue') - before).toBe(2 * BRIDGE_CALLS);
  });

  it('never put the seeded password into a response body or a log line', () => {
    expect(t.logs.text()).not.toContain(PASSWORD);
    expect(t.bodies.filter((b) => b.includes(PASSWORD))).toEqual([]);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { TestAgent } from './start-test-agent.js';

/** Step code that computes (holding its isolate and worker) for `ms` milliseconds. */
export const spinFor = (ms: number): string => `const until = Date.now() + ${ms}; while (Date.now() < until) {}`;

/** A workflow that reads the secret `app/db` and returns the length of its password. */
export const healthyWorkflow = {
  name: 'healthy',
  steps: [
    {
      name: 'read',
      code: `const r = await aws.secretsManager.getSecretValue({ SecretId: 'app/db' }); return { length: JSON.parse(r.SecretString).password.length };`,
    },
  ],
};

/** Reads the secret `app/db`, then computes for 5 s: still running when its worker dies or is stopped. */
export const innocentWorkflow = {
  name: 'innocent',
  steps: [
    {
      name: 'read',
      code: `const r = await aws.secretsManager.getSecretValue({ SecretId: 'app/db' }); ${spinFor(5000)} return { innocent: true, length: JSON.parse(r.SecretString).password.length };`,
    },
  ],
};

/** Waits (up to `seconds`, 10 by default) until `ready()` holds, and fails with `what` when it never does. */
export async function until(ready: () => boolean, what: string, seconds = 10): Promise<void> {
  for (let i = 0; i < seconds * 50 && !ready(); i++) await sleep(20);
  expect(ready(), what).toBe(true);
}

/** The pids of the agent's sandbox workers, sorted, once there are `count` of them (or after 4 s). */
export async function workerPids(t: TestAgent, count: number): Promise<number[]> {
  for (let i = 0; i < 200 && t.agent.parts.sandbox.pids().length !== count; i++) await sleep(20);
  return [...t.agent.parts.sandbox.pids()].sort((a, b) => a - b);
}

/** A `sandbox.worker.exit` log line of the agent. */
export interface WorkerExitLine {
  event?: string;
  pid?: number;
  how?: string;
  reason?: string;
  resentRuns?: number;
}

/** The agent's log lines for sandbox workers that exited, oldest first. */
export function workerExitLines(t: TestAgent): WorkerExitLine[] {
  return t.logs.lines
    .map((line) => JSON.parse(line) as WorkerExitLine)
    .filter((l) => l.event === 'sandbox.worker.exit');
}

import { describe, expect, it } from 'vitest';
import { acceptResult } from '../../src/sandbox/host/accept-result.js';
import type { SandboxJob } from '../../src/sandbox/index.js';

const limits = {
  memoryMb: 32,
  stepTimeoutMs: 1000,
  runTimeoutMs: 2000,
  maxResponseBytes: 64,
  maxBridgeCalls: 5,
  maxLogBytes: 1000,
  maxLogLines: 10,
  maxRunLogBytes: 10_000,
  maxRunLogLines: 100,
};
const job: SandboxJob = {
  workflow: 'wf',
  steps: [{ name: 'fetch', code: 'return 1;' }],
  input: { params: {}, env: {}, context: { workflow: 'wf' } },
  limits,
  bridge: () => Promise.resolve(null),
};
const steps = [{ name: 'fetch', durationMs: 1, logs: [], output: null }];

describe("the agent's acceptance of a worker's result", () => {
  it('takes a response within maxResponseBytes as it is', () => {
    const outcome = acceptResult({ type: 'done', id: 1, steps, response: { user: 'app' } }, job);
    expect(outcome).toEqual({ ok: true, steps, response: { user: 'app' } });
  });

  it('refuses a response over maxResponseBytes that a worker sent anyway, naming the last step', () => {
    const response = { blob: 'x'.repeat(100) };
    const outcome = acceptResult({ type: 'done', id: 1, steps, response }, job);
    if (outcome.ok) throw new Error('expected the result to be refused');
    expect(outcome.error.code).toBe('WORKFLOW_FAILED');
    expect(outcome.error.message).toBe(
      `workflow "wf" failed in step "fetch": RangeError: the returned value is ${JSON.stringify(response).length} bytes of JSON, over the limit of 64`,
    );
    expect(outcome.error.details).toEqual({ workflow: 'wf', step: 'fetch', responseTooLarge: true });
  });
});

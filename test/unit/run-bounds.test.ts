import { describe, expect, it } from 'vitest';
import { maxWorkflowSteps } from '../../src/config/index.js';
import { SecretMasker } from '../../src/masking/index.js';
import { runSteps } from '../../src/sandbox/guest/run-steps.js';
import type { StepResult, StepsOutcome } from '../../src/sandbox/index.js';
import { capRunLogs } from '../../src/sandbox/run-logs.js';
import { toPreview, type WorkflowRun } from '../../src/workflows/index.js';
import { errorOf } from '../support/error-of.js';

/** The failure of a run that must have failed, with the steps that ran. */
async function failureOf(promise: Promise<StepsOutcome>) {
  const outcome = await promise;
  if (outcome.ok) throw new Error('expected the run to fail');
  return { ...outcome.failure, steps: outcome.steps };
}

/** A run that must have succeeded (its failure's message otherwise). */
function ran(outcome: StepsOutcome): Extract<StepsOutcome, { ok: true }> {
  if (!outcome.ok) throw new Error(outcome.failure.message);
  return outcome;
}

/**
 * Issue 19, section 3 (one preview could take 700 MB of the agent's memory) and the 5 MB error
 * message of section 6: what a run keeps of its logs across steps, its step count, what a step's long
 * error message becomes, and the size of a preview.
 */

const limits = {
  memoryMb: 32,
  stepTimeoutMs: 2000,
  runTimeoutMs: 5000,
  maxResponseBytes: 10_000,
  maxBridgeCalls: 5,
  maxLogBytes: 1000,
  maxLogLines: 20,
  maxRunLogBytes: 1024 * 1024,
  maxRunLogLines: 100_000,
};

function run(codes: string[], overrides: Partial<typeof limits> = {}): Promise<StepsOutcome> {
  return runSteps({
    workflow: 'wf',
    steps: codes.map((code, i) => ({ name: `s${i}`, code })),
    input: { params: {}, env: {}, context: { workflow: 'wf' } },
    limits: { ...limits, ...overrides },
    bridge: () => Promise.reject(new Error('no bridge here')),
  });
}

const logLines = (count: number, length: number, tag = 'l') =>
  `for (let i = 0; i < ${count}; i++) console.log('${tag}' + i + ' ' + 'x'.repeat(${length}));`;

describe("a run's logs across its steps", () => {
  it('keeps at most maxRunLogLines lines over all steps; each step with lines cut ends with a marker that counts them', async () => {
    const result = ran(
      await run(
        [`${logLines(4, 5, 'a')} return 1;`, `${logLines(4, 5, 'b')} return 2;`, `${logLines(4, 5, 'c')} return 3;`],
        { maxRunLogLines: 5 },
      ),
    );
    const [first, second, third] = result.steps.map((s) => s.logs.map((l) => l.message));
    expect(first).toEqual(['a0 xxxxx', 'a1 xxxxx', 'a2 xxxxx', 'a3 xxxxx']);
    expect(second).toEqual(['b0 xxxxx', '... 3 more lines cut (run log limit: 5 lines or 1048576 bytes per run)']);
    expect(third).toEqual(['... 4 more lines cut (run log limit: 5 lines or 1048576 bytes per run)']);
    expect(result.response).toBe(3);
  });

  it('keeps at most maxRunLogBytes bytes (UTF-8) of log text over all steps', async () => {
    const steps = Array.from({ length: 10 }, () => `${logLines(20, 500)} return null;`);
    const result = ran(await run(steps, { maxRunLogBytes: 4096 }));
    const kept = result.steps.flatMap((s) => s.logs).filter((l) => !l.message.startsWith('... '));
    expect(kept.reduce((n, l) => n + Buffer.byteLength(l.message), 0)).toBeLessThanOrEqual(4096);
    expect(kept).toHaveLength(Math.floor(4096 / Buffer.byteLength(`l0 ${'x'.repeat(500)}`)));
    const markers = result.steps.map((s) => s.logs.at(-1)?.message);
    expect(markers.slice(1)).toEqual(
      Array.from({ length: 9 }, () => '... 20 more lines cut (run log limit: 100000 lines or 4096 bytes per run)'),
    );
  });

  it("is held again by the agent for a worker that sent more than the run's limits", () => {
    const line = { level: 'info' as const, message: 'y'.repeat(100) };
    const steps: StepResult[] = Array.from({ length: 3 }, (_, i) => ({
      name: `s${i}`,
      durationMs: 1,
      output: null,
      logs: Array.from({ length: 10 }, () => line),
    }));
    const capped = capRunLogs(steps, { ...limits, maxRunLogLines: 12, maxRunLogBytes: 1024 * 1024 });
    expect(capped.map((s) => s.logs.length)).toEqual([10, 6, 1]);
    expect(capped[1]?.logs.at(-1)?.message).toBe(
      '... 5 more lines cut (run log limit: 12 lines or 1048576 bytes per run)',
    );
  });
});

describe("a workflow's step count at run time", () => {
  it(`refuses a run of more than ${maxWorkflowSteps} steps before any of them runs`, async () => {
    const codes = Array.from({ length: maxWorkflowSteps + 1 }, () => 'console.log("ran"); return 1;');
    const error = await failureOf(run(codes));
    expect(error.code).toBe('WORKFLOW_FAILED');
    expect(error.message).toBe(
      `workflow "wf" has ${maxWorkflowSteps + 1} steps; a workflow may have at most ${maxWorkflowSteps}`,
    );
    expect(error.steps).toEqual([]);
  });
});

describe("a step's long error message", () => {
  it('says the step threw, and shows the start of a 5 MB message cut to 2000 characters', async () => {
    const error = await failureOf(run(['throw new Error("start of it " + "z".repeat(5_000_000));']));
    expect(error.code).toBe('WORKFLOW_FAILED');
    expect(error.message).toBe(
      `workflow "wf" failed in step "s0": the step threw Error with a message of 5000012 characters, cut to its first 2000: start of it ${'z'.repeat(1988)}…`,
    );
    expect(error.details).toMatchObject({ errorName: 'Error', messageLength: 5_000_012 });
  });

  it('cuts a thrown non-Error value and a long error name the same way', async () => {
    const thrown = await failureOf(run(['throw "q".repeat(3_000_000);']));
    expect(thrown.message).toMatch(
      /^workflow "wf" failed in step "s0": the step threw Error with a message of 3000025 characters, cut to its first 2000: threw a non-Error value: q+…$/,
    );
    const named = await failureOf(run(['const e = new Error("short"); e.name = "N".repeat(100000); throw e;']));
    expect(named.message).toBe(`workflow "wf" failed in step "s0": ${'N'.repeat(200)}: short`);
  });

  it('still reports a thrown error as itself when maxResponseBytes is tiny', async () => {
    const error = await failureOf(run(['throw new Error("boom");'], { maxResponseBytes: 2 }));
    expect(error.message).toBe('workflow "wf" failed in step "s0": Error: boom');
  });
});

describe('the size of a preview', () => {
  const steps = (count: number, lines: number, length: number): StepResult[] =>
    Array.from({ length: count }, (_, s) => ({
      name: `s${s}`,
      durationMs: 1,
      output: null,
      logs: Array.from({ length: lines }, (_, i) => ({
        level: 'info' as const,
        message: `${s}.${i} ${'w'.repeat(length)}`,
      })),
    }));
  const runOf = (stepResults: StepResult[], response: unknown): WorkflowRun => ({
    ok: true,
    workflow: 'wf',
    response,
    steps: stepResults,
    durationMs: 3,
    masker: new SecretMasker(),
  });

  it('cuts log lines, from the end, so that the JSON is at most maxBytes, and says so in a marker line', () => {
    const preview = toPreview(runOf(steps(5, 100, 1000), { host: 'db' }), false, 128 * 1024);
    const text = JSON.stringify(preview);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(128 * 1024);
    expect(preview.response).toEqual({ host: 'db' });
    const lines = preview.steps.flatMap((s) => s.logs);
    const marker = lines.at(-1);
    const kept = lines.length - 1;
    expect(marker).toBe(`... ${500 - kept} more lines cut (preview response limit of 131072 bytes)`);
    expect(lines.slice(0, kept)).toEqual(
      steps(5, 100, 1000)
        .flatMap((s) => s.logs.map((l) => l.message))
        .slice(0, kept),
    );
    expect(kept).toBeGreaterThan(100);
  });

  it('leaves a preview within the limit as it is', () => {
    const run = runOf(steps(2, 3, 10), 1);
    expect(toPreview(run, false, 64 * 1024)).toEqual(toPreview(run, false));
  });

  it('fails with RESULT_TOO_LARGE when the response alone is over the limit', () => {
    const error = errorOf(() => toPreview(runOf(steps(1, 1, 1), 'r'.repeat(100_000)), false, 64 * 1024));
    expect(error.code).toBe('RESULT_TOO_LARGE');
    expect(error.message).toMatch(
      /^the preview of workflow "wf" is \d+ bytes of JSON without its logs, over the preview response limit of 65536 bytes \(CREDFLOW_PREVIEW_MAX_BYTES\)$/,
    );
  });
});

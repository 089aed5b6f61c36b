import { stepFailureError, type SandboxJob, type SandboxOutcome } from '../contract.js';
import type { WorkerMessage } from '../protocol.js';
import { capRunLogs } from '../run-logs.js';

type ResultMessage = Extract<WorkerMessage, { type: 'done' | 'failed' }>;

/**
 * What the agent makes of a worker's result: its steps' logs held to the run's bounds (the worker
 * keeps them within those already; one that did not cannot grow the agent's memory through them),
 * and a step's failure, which crossed as plain data, made the one CredflowError of the run.
 */
export function acceptResult(message: ResultMessage, job: SandboxJob): SandboxOutcome {
  const steps = capRunLogs(message.steps, job.limits);
  if (message.type === 'failed') {
    const { code, details } = message;
    return { ok: false, error: stepFailureError({ code, message: message.message, details }), steps };
  }
  return { ok: true, steps, response: message.response ?? null };
}

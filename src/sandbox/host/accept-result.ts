import { stepFailureError, type SandboxJob, type SandboxOutcome } from '../contract.js';
import type { WorkerMessage } from '../protocol.js';
import { capRunLogs } from '../run-logs.js';

type ResultMessage = Extract<WorkerMessage, { type: 'done' | 'failed' }>;

/**
 * What the agent makes of a worker's result. A worker is not trusted (step code that escaped
 * isolated-vm would own it), so the bounds the agent relies on are applied here, where the result
 * enters the agent: the steps' logs held to the run's bounds, and the response measured against
 * maxResponseBytes (the worker refuses an oversized value first, with its step's error; this is the
 * check that holds whatever the worker does). A step's failure, which crossed as plain data, becomes
 * the one CredflowError of the run.
 */
export function acceptResult(message: ResultMessage, job: SandboxJob): SandboxOutcome {
  const steps = capRunLogs(message.steps, job.limits);
  if (message.type === 'failed') {
    const { code, details } = message;
    return { ok: false, error: stepFailureError({ code, message: message.message, details }), steps };
  }
  const response = message.response ?? null;
  const bytes = Buffer.byteLength(JSON.stringify(response));
  if (bytes > job.limits.maxResponseBytes) {
    const step = steps[steps.length - 1]?.name ?? '';
    const failure = stepFailureError({
      code: 'WORKFLOW_FAILED',
      message: `workflow "${job.workflow}" failed in step "${step}": RangeError: the returned value is ${bytes} bytes of JSON, over the limit of ${job.limits.maxResponseBytes}`,
      details: { workflow: job.workflow, step, responseTooLarge: true },
    });
    return { ok: false, error: failure, steps };
  }
  return { ok: true, steps, response };
}

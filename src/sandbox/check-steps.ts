import { maxWorkflowSteps, stepNameSchema } from '../config/index.js';
import { truncate } from '../errors.js';
import type { SandboxStep, StepFailure } from './contract.js';

/**
 * Refuses a run of more steps than a workflow may have, or with a step name the sandbox cannot use
 * (names become parameters of each later step's function). The config loader refuses such files;
 * this holds for callers that did not come through it. The host checks before it sends a run to a
 * worker, which would stop at a message its schema refuses; the guest checks what it is handed.
 */
export function checkSteps(workflow: string, steps: readonly SandboxStep[]): StepFailure | undefined {
  if (steps.length > maxWorkflowSteps) {
    return {
      code: 'WORKFLOW_FAILED',
      message: `workflow "${workflow}" has ${steps.length} steps; a workflow may have at most ${maxWorkflowSteps}`,
      details: { workflow, steps: steps.length, maxSteps: maxWorkflowSteps },
    };
  }
  for (const step of steps) {
    const checked = stepNameSchema.safeParse(step.name);
    if (!checked.success) {
      return {
        code: 'WORKFLOW_FAILED',
        message: `workflow "${workflow}": step name "${truncate(step.name, 64)}" ${checked.error.issues[0]?.message ?? 'is not allowed'}`,
        details: { workflow, step: step.name },
      };
    }
  }
  return undefined;
}

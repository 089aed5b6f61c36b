import type { WorkflowRun } from './run-workflow.js';
import type { SecretMasker } from '../masking/index.js';
import type { StepResult } from '../sandbox/index.js';

export interface PreviewStep {
  name: string;
  durationMs: number;
  logs: string[];
}

export interface Preview {
  response: unknown;
  steps: PreviewStep[];
  durationMs: number;
  masked: boolean;
}

/** Presents a run's step logs; masked unless the caller asked to reveal. */
export function previewSteps(steps: readonly StepResult[], masker: SecretMasker, reveal: boolean): PreviewStep[] {
  return steps.map((step) => ({
    name: step.name,
    durationMs: step.durationMs,
    logs: step.logs.map((l) => {
      const line = l.level === 'info' ? l.message : `[${l.level}] ${l.message}`;
      return reveal ? line : masker.mask(line);
    }),
  }));
}

/**
 * The preview of a run, the same object for the API and the CLI's --json. Masked by default: strings
 * that came out of the secret store and values under secret-named keys become ********.
 */
export function toPreview(run: WorkflowRun, reveal: boolean): Preview {
  return {
    response: reveal ? run.response : run.masker.maskValue(run.response),
    steps: previewSteps(run.steps, run.masker, reveal),
    durationMs: run.durationMs,
    masked: !reveal,
  };
}

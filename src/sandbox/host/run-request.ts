import { CredflowError } from '../../errors.js';
import type { BridgeHandler, SandboxJob, SandboxOutcome, StepFailureCode } from '../contract.js';

/** A run the caller waits for, across the workers it is sent to. */
export interface RunRequest {
  job: SandboxJob;
  /** Workers the run was sent to so far, this one included. */
  attempt: number;
  /** When its time is over (Date.now() clock), the same for every worker it is sent to. */
  deadline: number;
  /** Hands the caller the run's outcome; called once. */
  settle: (outcome: SandboxOutcome) => void;
  /**
   * The run's bridge, held to its budget and deadline: one for every worker it is sent to, so a run
   * sent again after a crash has only the calls its first attempt left.
   */
  bridge: BridgeHandler;
  /** It waited in the queue: its worker gets what is left of its time. */
  queued?: boolean;
}

/** Why the agent stopped a worker, and the run that was the cause, when one was. */
export interface StopReason {
  code: StepFailureCode;
  why: string;
  run?: number;
  /** Retired after the runs it was started for, not lost. */
  retired?: boolean;
  /** Stopped for its resident memory. */
  memory?: boolean;
}

/** A run sent to one worker. */
export interface PendingRun extends RunRequest {
  /** The worker said it took the run (or asked for a call in it): from then on its code may have run. */
  started: boolean;
  timer: NodeJS.Timeout;
}

/** Ends a run that failed on the host (no step of it ran here, or none that counts). */
export function failRun(request: Pick<RunRequest, 'settle'>, error: CredflowError): void {
  request.settle({ ok: false, error, steps: [] });
}

/** The error of a run whose worker died under it: stopped by the agent (and why), or lost. */
export function abandoned(workflow: string, stopped: StopReason | undefined, how: string): CredflowError {
  if (!stopped) {
    return new CredflowError(
      'WORKFLOW_FAILED',
      `workflow "${workflow}" was abandoned: its sandbox worker stopped unexpectedly (${how}); the next run gets a new worker`,
      { details: { workflow, sandboxWorkerCrashed: true } },
    );
  }
  const code: StepFailureCode = stopped.code;
  return new CredflowError(
    code,
    `workflow "${workflow}" was abandoned: the agent stopped its sandbox worker because ${stopped.why}`,
    { details: { workflow, sandboxWorkerStopped: true, ...(stopped.memory ? { reason: 'memory' } : {}) } },
  );
}

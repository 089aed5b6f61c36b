/**
 * What a caller of the sandbox needs: the job it hands over, the runner that takes it, and what a run
 * comes to. The host side (worker processes) and the guest side (isolates in a worker) implement it;
 * callers (workflows/) import nothing else of the sandbox.
 */
import { CredflowError } from '../errors.js';
import type { SandboxLimits } from '../config/index.js';

export interface SandboxStep {
  readonly name: string;
  readonly code: string;
}

export interface SandboxInput {
  params: Record<string, unknown>;
  env: Record<string, string>;
  context: Record<string, unknown>;
}

export type LogLevel = 'info' | 'warn' | 'error' | 'debug';

export interface StepResult {
  name: string;
  durationMs: number;
  logs: { level: LogLevel; message: string }[];
  output: unknown;
}

/** What a step may call on the host. A rejection with a BridgeError reaches step code as that error. */
export type BridgeHandler = (method: string, args: unknown) => Promise<unknown>;

/**
 * A bridge call's refusal as step code sees it: this name, message and code, and nothing else of the
 * host. A class rather than a plain value because the rejection's identity is the point: a handler
 * that rejects with anything else (an SDK error, a bug) has its message withheld from the step, and an
 * AWS SDK error has a name and a message too, so a shape check could not tell the two apart.
 */
export class BridgeError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** One run of a workflow's steps, as the caller hands it to a runner. */
export interface SandboxJob {
  workflow: string;
  steps: readonly SandboxStep[];
  input: SandboxInput;
  limits: SandboxLimits;
  bridge: BridgeHandler;
}

/** The codes a step run can end with. */
export type StepFailureCode = 'WORKFLOW_FAILED' | 'WORKFLOW_TIMEOUT';

/**
 * A failed step run as plain data: the guest produces it, it crosses the worker's IPC as it is, and
 * the host makes the one CredflowError of it (stepFailureError).
 */
export interface StepFailure {
  code: StepFailureCode;
  message: string;
  /** Plain values only (the workflow, the step, an error's name...): what crosses from a worker. */
  details: Record<string, string | number | boolean | null>;
}

/** What the guest's run of the steps comes to: `steps` holds what ran, a failing step included. */
export type StepsOutcome =
  { ok: true; steps: StepResult[]; response: unknown } | { ok: false; failure: StepFailure; steps: StepResult[] };

export interface SandboxRunResult {
  ok: true;
  steps: StepResult[];
  response: unknown;
}

/** A run that failed: in a step, or on the host (no worker free, a worker lost, the agent stopping). */
export interface SandboxRunFailure {
  ok: false;
  error: CredflowError;
  steps: StepResult[];
}

/** What a run comes to: a failing step or a refused run is an outcome, not a rejection. */
export type SandboxOutcome = SandboxRunResult | SandboxRunFailure;

/** Something that runs a workflow's steps in a sandbox. */
export interface SandboxRunner {
  run(job: SandboxJob): Promise<SandboxOutcome>;
}

/** The one CredflowError a step's failure becomes, on the host. */
export function stepFailureError(failure: StepFailure): CredflowError {
  return new CredflowError(failure.code, failure.message, { details: failure.details });
}

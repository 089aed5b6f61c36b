import type { Logger } from 'pino';
import type { SandboxLimits, Workflow } from '../config/index.js';
import { CredflowError } from '../errors.js';
import type { Metrics } from '../metrics/index.js';
import { MASK, scrubFragments, SecretMasker } from '../masking/index.js';
import type { SandboxOutcome, SandboxRunner, StepResult } from '../sandbox/index.js';
import type { VaultLease } from '../secrets/index.js';
import type { BridgeStores } from './bridge/bridge-deps.js';
import { createBridge } from './bridge/create-bridge.js';

export interface WorkflowRunnerDeps {
  /** The stores the bridge functions call. */
  stores: BridgeStores;
  /** The agent's masker: every secret a run reads from the store is learnt there too (within its bounds). */
  masker: SecretMasker;
  /** `Env` inside the sandbox (from CREDFLOW_AGENT_APP_ENV_*). */
  appEnv: Record<string, string>;
  /** The agent's limits; a workflow's own `limits` may only lower them. */
  limits: SandboxLimits;
  logger: Logger;
  metrics?: Metrics;
  /** Where steps run: the agent's sandbox worker processes. */
  sandbox: SandboxRunner;
  /** Told the Vault leases of a run nothing will use (it failed, or its caller does not keep them), to revoke them. */
  discardLeases?: (leases: readonly VaultLease[]) => void;
}

export interface RunWorkflowOptions {
  /** Merged over the workflow's default params. */
  params?: Record<string, unknown>;
  context?: { integration?: string; profile?: string };
  /** The caller keeps the credentials the run obtains (the cache): its Vault leases are in the outcome, not revoked. */
  keepLeases?: boolean;
}

export interface WorkflowRun {
  ok: true;
  workflow: string;
  response: unknown;
  steps: StepResult[];
  durationMs: number;
  /** Knows the secrets this run met (and, through its parent, all others). */
  masker: SecretMasker;
  /** The Vault leases the run obtained, when its caller keeps them (`keepLeases`); else none (revoked). */
  leases?: VaultLease[];
}

/** A run that failed: its error (scrubbed of the run's secrets), the steps that ran and the run's masker. */
export interface FailedWorkflowRun {
  ok: false;
  workflow: string;
  error: CredflowError;
  steps: StepResult[];
  durationMs: number;
  masker: SecretMasker;
}

/** What a run came to: a step failing, a timeout or a bridge refusal is an outcome, not a rejection. */
export type WorkflowOutcome = WorkflowRun | FailedWorkflowRun;

export interface WorkflowRunner {
  run(workflow: Workflow, options?: RunWorkflowOptions): Promise<WorkflowOutcome>;
}

export function createWorkflowRunner(deps: WorkflowRunnerDeps): WorkflowRunner {
  return {
    async run(workflow, options = {}) {
      const started = performance.now();
      const masker = new SecretMasker(deps.masker);
      const limits = effectiveLimits(deps.limits, workflow.limits);
      const leases: VaultLease[] = [];
      // The sandbox starts its own clock a moment later: this deadline comes first.
      const deadline = Date.now() + limits.runTimeoutMs;
      const bridge = createBridge({ stores: deps.stores, masker, metrics: deps.metrics, workflow, leases, deadline });
      const input = {
        params: { ...workflow.params, ...options.params },
        env: deps.appEnv,
        context: { workflow: workflow.name, ...options.context },
      };
      const outcome = await runIn(deps.sandbox, {
        workflow: workflow.name,
        steps: workflow.steps,
        input,
        limits,
        bridge,
      });
      const durationMs = Math.round(performance.now() - started);
      const kept = outcome.ok && options.keepLeases === true;
      if (!kept && leases.length > 0) deps.discardLeases?.(leases);
      if (outcome.ok) {
        deps.metrics?.workflowRuns.observe({ workflow: workflow.name, outcome: 'ok' }, durationMs / 1000);
        deps.logger.info(
          { event: 'workflow.run', workflow: workflow.name, ...options.context, outcome: 'ok', durationMs },
          'workflow run',
        );
        const { response, steps } = outcome;
        return { ok: true, workflow: workflow.name, response, steps, durationMs, masker, leases: kept ? leases : [] };
      }
      const failure = scrubbed(outcome.error, masker);
      deps.metrics?.workflowRuns.observe(
        { workflow: workflow.name, outcome: failure.code === 'WORKFLOW_TIMEOUT' ? 'timeout' : 'error' },
        (performance.now() - started) / 1000,
      );
      deps.logger.warn(
        {
          event: 'workflow.run',
          workflow: workflow.name,
          ...options.context,
          outcome: 'error',
          code: failure.code,
          durationMs,
          error: failure.message,
        },
        'workflow run failed',
      );
      return { ok: false, workflow: workflow.name, error: failure, steps: outcome.steps, durationMs, masker };
    },
  };
}

/** The sandbox's outcome; a runner that throws (a bug) fails the run without its message. */
async function runIn(sandbox: SandboxRunner, job: Parameters<SandboxRunner['run']>[0]): Promise<SandboxOutcome> {
  try {
    return await sandbox.run(job);
  } catch {
    return { ok: false, error: new CredflowError('WORKFLOW_FAILED', `workflow "${job.workflow}" failed`), steps: [] };
  }
}

/**
 * A step's error may quote part of a secret the run read (V8 quotes a window of JSON.parse's input):
 * the failure is scrubbed against the run's own values, once, before it is kept anywhere (cache, logs,
 * status). details hold step-chosen strings too (errorName). No cause: its message would be the
 * unscrubbed text, and pino's error serialiser prints a cause's message.
 */
function scrubbed(error: CredflowError, masker: SecretMasker): CredflowError {
  const scrub = (text: string) => masker.mask(scrubFragments(text, masker.learntFragmented, MASK));
  const details =
    error.details &&
    Object.fromEntries(
      Object.entries(error.details).map(([key, value]) => [
        key,
        typeof value === 'string' && key !== 'workflow' && key !== 'step' ? scrub(value) : value,
      ]),
    );
  return new CredflowError(error.code, scrub(error.message), details ? { details } : {});
}

/** A workflow's limits may be lower than the agent's, never higher: the agent's settings are the ceiling. */
export function effectiveLimits(agent: SandboxLimits, workflow: Partial<SandboxLimits>): SandboxLimits {
  const out = { ...agent };
  for (const key of Object.keys(agent) as (keyof SandboxLimits)[]) {
    const wanted = workflow[key];
    if (wanted !== undefined) out[key] = Math.min(agent[key], wanted);
  }
  return out;
}

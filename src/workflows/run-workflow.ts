import type { Logger } from 'pino';
import type { SandboxLimits, Workflow } from '../config/index.js';
import { CredflowError, truncate } from '../errors.js';
import type { Metrics } from '../metrics/index.js';
import { MASK, scrubFragments, SecretMasker } from '../masking/index.js';
import {
  BridgeError,
  runInSandbox,
  type BridgeHandler,
  type SandboxRunner,
  type StepResult,
} from '../sandbox/index.js';
import { getSecretValueRequestSchema, SecretStoreError, type SecretsGateway } from '../secrets/index.js';
import { compileSecretAllowlist, type SecretAllowlist } from './secret-allowlist.js';

export interface WorkflowRunnerDeps {
  secrets: SecretsGateway;
  /** The agent's masker: every secret a run reads from the store is learnt there too (within its bounds). */
  masker: SecretMasker;
  /** `Env` inside the sandbox (from CREDFLOW_AGENT_APP_ENV_*). */
  appEnv: Record<string, string>;
  /** The agent's limits; a workflow's own `limits` may only lower them. */
  limits: SandboxLimits;
  logger: Logger;
  metrics?: Metrics;
  /** Where steps run: the agent passes its sandbox worker processes; by default, isolates in this process. */
  sandbox?: SandboxRunner;
}

export interface RunWorkflowOptions {
  /** Merged over the workflow's default params. */
  params?: Record<string, unknown>;
  context?: { integration?: string; profile?: string };
}

export interface WorkflowRun {
  ok: true;
  workflow: string;
  response: unknown;
  steps: StepResult[];
  durationMs: number;
  /** Knows the secrets this run met (and, through its parent, all others). */
  masker: SecretMasker;
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

const inProcess: SandboxRunner = { run: (job) => runInSandbox(job) };

export function createWorkflowRunner(deps: WorkflowRunnerDeps): WorkflowRunner {
  const sandbox = deps.sandbox ?? inProcess;
  const allowlists = new WeakMap<Workflow, SecretAllowlist>();
  const allowlistOf = (workflow: Workflow): SecretAllowlist => {
    let found = allowlists.get(workflow);
    if (!found) allowlists.set(workflow, (found = compileSecretAllowlist(workflow.allowedSecrets)));
    return found;
  };
  return {
    async run(workflow, options = {}) {
      const started = performance.now();
      const masker = new SecretMasker(deps.masker);
      const limits = effectiveLimits(deps.limits, workflow.limits);
      const bridge = createBridge({
        secrets: deps.secrets,
        masker,
        metrics: deps.metrics,
        allowed: allowlistOf(workflow),
        workflow: workflow.name,
      });
      const input = {
        params: { ...workflow.params, ...options.params },
        env: deps.appEnv,
        context: { workflow: workflow.name, ...options.context },
      };
      try {
        const result = await sandbox.run({ workflow: workflow.name, steps: workflow.steps, input, limits, bridge });
        const durationMs = Math.round(performance.now() - started);
        deps.metrics?.workflowRuns.observe({ workflow: workflow.name, outcome: 'ok' }, durationMs / 1000);
        deps.logger.info(
          { event: 'workflow.run', workflow: workflow.name, ...options.context, outcome: 'ok', durationMs },
          'workflow run',
        );
        return {
          ok: true,
          workflow: workflow.name,
          response: result.response,
          steps: result.steps,
          durationMs,
          masker,
        };
      } catch (error) {
        const durationMs = Math.round(performance.now() - started);
        const thrown =
          error instanceof CredflowError
            ? error
            : new CredflowError('WORKFLOW_FAILED', `workflow "${workflow.name}" failed`, { cause: error });
        // A step's error may quote part of a secret the run read (V8 quotes a window of JSON.parse's
        // input): scrubbed against the run's own values before it is kept anywhere (cache, logs, status).
        const scrub = (text: string) => masker.mask(scrubFragments(text, masker.learnt, MASK));
        const message = scrub(thrown.message);
        // details hold step-chosen strings too (errorName). No cause: its message is the unscrubbed
        // text, and pino's error serialiser prints a cause's message.
        const details =
          thrown.details &&
          Object.fromEntries(
            Object.entries(thrown.details).map(([key, value]) => [
              key,
              typeof value === 'string' && key !== 'workflow' && key !== 'step' ? scrub(value) : value,
            ]),
          );
        const failure = new CredflowError(thrown.code, message, details ? { details } : {});
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
        const steps = (error as { steps?: StepResult[] }).steps ?? [];
        return { ok: false, workflow: workflow.name, error: failure, steps, durationMs, masker };
      }
    },
  };
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

interface BridgeDeps {
  secrets: SecretsGateway;
  masker: SecretMasker;
  metrics: Metrics | undefined;
  allowed: SecretAllowlist;
  workflow: string;
}

/**
 * The host side of `aws.secretsManager.getSecretValue`: validate, check the workflow's
 * allowedSecrets, call, remember what must be masked.
 */
function createBridge({ secrets, masker, metrics, allowed, workflow }: BridgeDeps): BridgeHandler {
  return async (method, args) => {
    if (method !== 'secretsManager.getSecretValue')
      throw new BridgeError('TypeError', `unknown bridge method ${method}`);
    const parsed = getSecretValueRequestSchema.safeParse(args);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ');
      throw new BridgeError('InvalidParameterException', `getSecretValue: ${truncate(problems, 1000)}`);
    }
    if (!allowed(parsed.data.SecretId)) {
      metrics?.secretStoreCalls.observe({ operation: 'GetSecretValue', outcome: 'NotAllowed' }, 0);
      throw new BridgeError(
        'AccessDeniedException',
        `workflow "${workflow}" may not read the secret "${parsed.data.SecretId}": it is not in the workflow's allowedSecrets`,
      );
    }
    // Credentials a step passes are its own choice of strings, not learnt: the agent's configured
    // ones (Env, AWS_SECRET_ACCESS_KEY) are registered when it starts.
    const started = performance.now();
    const observe = (outcome: string) =>
      metrics?.secretStoreCalls.observe({ operation: 'GetSecretValue', outcome }, (performance.now() - started) / 1000);
    try {
      const value = await secrets.getSecretValue(parsed.data);
      observe('ok');
      try {
        if (value.SecretString !== undefined) learnSecret(masker, value.SecretString);
        if (value.SecretBinary !== undefined) {
          // Steps decode it (base64.decode): the text and what it holds are secrets too.
          masker.add(value.SecretBinary, false);
          learnSecret(masker, Buffer.from(value.SecretBinary, 'base64').toString('utf8'));
        }
      } catch (error) {
        // The masker is full of values that cached credentials hold: the step must not see a value
        // the agent could not mask.
        if (error instanceof CredflowError) throw new BridgeError('LimitExceededException', error.message);
        throw error;
      }
      return value;
    } catch (error) {
      if (error instanceof BridgeError) throw error;
      observe(error instanceof SecretStoreError ? error.name : 'Error');
      if (error instanceof SecretStoreError) throw new BridgeError(error.name, masker.mask(error.message));
      throw new BridgeError('Error', 'getSecretValue failed');
    }
  };
}

/**
 * A secret as read from the store: a JSON document is learnt whole (without its fragments: its
 * structure is not secret) and by its secret leaves; any other text (`sk_live_...`) whole and in
 * fragments.
 */
function learnSecret(masker: SecretMasker, text: string): void {
  const parsed = tryParseJson(text);
  const document = parsed !== null && typeof parsed === 'object';
  masker.add(text, !document);
  if (document) masker.addSecretsIn(parsed);
}

function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

import type { Logger } from 'pino';
import type { AgentSettings, Integration, LoadedConfig, Workflow } from '../config/index.js';
import { resolveConnection, stageOf } from '../credentials/index.js';
import { CredflowError } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';
import { createPoolRegistry, runQuery, type QueryResult } from '../postgres/index.js';
import type { SecretsGateway } from '../secrets/index.js';
import { createWorkflowRunner, toPreview, type Preview } from '../workflows/index.js';
import { redactConfig } from './redact-config.js';

export interface AgentDeps {
  config: LoadedConfig;
  settings: AgentSettings;
  secrets: SecretsGateway;
  masker: SecretMasker;
  logger: Logger;
  appEnv: Record<string, string>;
}

export interface IntegrationSummary {
  name: string;
  kind: string;
  description: string | undefined;
  workflow: string | undefined;
}

export interface WorkflowSummary {
  name: string;
  description: string | undefined;
  steps: string[];
  params: string[];
}

export interface TestResult {
  ok: true;
  integration: string;
  durationMs: number;
  stages: string[];
}

export interface Agent {
  readonly config: LoadedConfig;
  readonly masker: SecretMasker;
  readonly logger: Logger;
  listIntegrations(): IntegrationSummary[];
  describeIntegration(name: string): unknown;
  listWorkflows(): WorkflowSummary[];
  describeWorkflow(name: string): unknown;
  previewWorkflow(name: string, options?: { params?: Record<string, unknown>; reveal?: boolean }): Promise<Preview>;
  testIntegration(name: string): Promise<TestResult>;
  query(name: string, sql: string, params?: readonly unknown[]): Promise<QueryResult>;
  close(): Promise<void>;
}

/** The agent's use cases, shared by the HTTP API and the CLI. */
export function createAgent(deps: AgentDeps): Agent {
  const { config, masker, logger } = deps;
  // Values of the agent's Env under secret-named keys (aws_secret_access_key, ...) are secrets too.
  masker.addSecretsIn(deps.appEnv);
  const runner = createWorkflowRunner({
    secrets: deps.secrets,
    masker,
    appEnv: deps.appEnv,
    limits: deps.settings.sandbox,
    logger,
  });
  const pools = createPoolRegistry({ logger, max: deps.settings.poolMax, connectTimeoutMs: deps.settings.connectTimeoutMs });

  const integration = (name: string): Integration => {
    const found = config.integrations.get(name);
    if (!found) throw new CredflowError('INTEGRATION_NOT_FOUND', `no integration named "${name}"`, { details: { integration: name } });
    return found;
  };
  const workflow = (name: string): Workflow => {
    const found = config.workflows.get(name);
    if (!found) throw new CredflowError('WORKFLOW_NOT_FOUND', `no workflow named "${name}"`, { details: { workflow: name } });
    return found;
  };

  const poolFor = async (target: Integration) => {
    const started = performance.now();
    try {
      const connection = await resolveConnection(target, { runner, workflows: config.workflows, appEnv: deps.appEnv, masker });
      logger.info(
        { event: 'credentials.resolve', integration: target.name, workflow: target.fetchCredentialsDynamically?.workflow, outcome: 'ok', durationMs: Math.round(performance.now() - started) },
        'resolved credentials',
      );
      return pools.poolFor(target.name, connection);
    } catch (error) {
      logger.warn(
        { event: 'credentials.resolve', integration: target.name, outcome: 'error', stage: stageOf(error), code: (error as CredflowError).code, durationMs: Math.round(performance.now() - started) },
        'could not resolve credentials',
      );
      throw error;
    }
  };

  return {
    config,
    masker,
    logger,
    listIntegrations: () =>
      [...config.integrations.values()].map((i) => ({
        name: i.name,
        kind: i.kind,
        description: i.description,
        workflow: i.fetchCredentialsDynamically?.enabled ? i.fetchCredentialsDynamically.workflow : undefined,
      })),
    describeIntegration: (name) => ({ file: integration(name).file, config: redactConfig(integration(name).written, masker) }),
    listWorkflows: () =>
      [...config.workflows.values()].map((w) => ({
        name: w.name,
        description: w.description,
        steps: w.steps.map((s) => s.name),
        params: Object.keys(w.params),
      })),
    describeWorkflow: (name) => {
      const w = workflow(name);
      return {
        file: w.file,
        config: redactConfig(w.written, masker),
        steps: w.steps.map((s) => ({ name: s.name, source: s.source, code: masker.mask(s.code) })),
      };
    },
    async previewWorkflow(name, options = {}) {
      const run = await runner.run(workflow(name), { params: options.params ?? {} });
      const preview = toPreview(run, options.reveal === true);
      logger.info({ event: 'workflow.preview', workflow: name, reveal: options.reveal === true }, 'workflow preview');
      return preview;
    },
    async testIntegration(name) {
      const target = integration(name);
      const started = performance.now();
      try {
        const pool = await poolFor(target);
        await runQuery(pool, name, 'SELECT 1', [], masker);
      } catch (error) {
        if (error instanceof CredflowError) {
          const stage = stageOf(error) ?? 'internal';
          throw new CredflowError(error.code, `${stage} stage failed: ${error.message}`, { details: { ...error.details, stage }, cause: error });
        }
        throw error;
      }
      const stages = target.fetchCredentialsDynamically?.enabled
        ? ['workflow', 'template', 'validation', 'connect', 'auth', 'query']
        : ['template', 'validation', 'connect', 'auth', 'query'];
      return { ok: true, integration: name, durationMs: Math.round(performance.now() - started), stages };
    },
    async query(name, sql, params = []) {
      const target = integration(name);
      const started = performance.now();
      const pool = await poolFor(target);
      try {
        const result = await runQuery(pool, name, sql, params, masker);
        logger.info({ event: 'query', integration: name, outcome: 'ok', rowCount: result.rowCount, durationMs: Math.round(performance.now() - started) }, 'query');
        return result;
      } catch (error) {
        logger.info({ event: 'query', integration: name, outcome: 'error', code: (error as CredflowError).code, durationMs: Math.round(performance.now() - started) }, 'query failed');
        throw error;
      }
    },
    async close() {
      await pools.close();
      deps.secrets.close();
    },
  };
}

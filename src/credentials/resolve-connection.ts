import type { Integration, Workflow } from '../config/index.js';
import { formatPath } from '../config/index.js';
import { CredflowError } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';
import type { WorkflowRunner } from '../workflows/index.js';
import { parseResolvedConnection, type ResolvedConnection } from './resolved-connection.js';

export type ResolveStage = 'workflow' | 'template' | 'validation';

export interface ResolveDeps {
  runner: WorkflowRunner;
  workflows: ReadonlyMap<string, Workflow>;
  appEnv: Record<string, string>;
  masker: SecretMasker;
}

export interface ResolveOptions {
  profile?: string;
}

/** Which stage failed, for `integrations test` and the logs. */
export function stageOf(error: unknown): ResolveStage | 'connect' | 'auth' | 'query' | undefined {
  if (!(error instanceof CredflowError)) return undefined;
  switch (error.code) {
    case 'WORKFLOW_FAILED':
    case 'WORKFLOW_TIMEOUT':
    case 'WORKFLOW_RESPONSE_INVALID':
    case 'WORKFLOW_NOT_FOUND':
    case 'SECRET_STORE_FAILED':
      return 'workflow';
    case 'TEMPLATE_MISSING_VALUE':
    case 'TEMPLATE_INVALID':
      return 'template';
    case 'CONNECTION_INVALID':
      return 'validation';
    case 'DB_AUTH_FAILED':
      return 'auth';
    case 'DB_CONNECT_FAILED':
      return 'connect';
    case 'DB_QUERY_FAILED':
      return 'query';
    default:
      return undefined;
  }
}

/**
 * Resolves an integration: runs its workflow when it fetches credentials dynamically, renders the
 * connection templates and validates the result. The password and connection string are registered
 * with the masker before anything else can print them.
 */
export async function resolveConnection(
  integration: Integration,
  deps: ResolveDeps,
  options: ResolveOptions = {},
): Promise<ResolvedConnection> {
  const context: Record<string, unknown> = { Env: deps.appEnv };
  const dynamic = integration.fetchCredentialsDynamically;
  if (dynamic?.enabled) {
    const workflow = deps.workflows.get(dynamic.workflow);
    if (!workflow) {
      throw new CredflowError('WORKFLOW_NOT_FOUND', `integration "${integration.name}": workflow "${dynamic.workflow}" does not exist`);
    }
    const run = await deps.runner.run(workflow, {
      params: dynamic.params ?? {},
      context: { integration: integration.name, ...(options.profile ? { profile: options.profile } : {}) },
    });
    deps.masker.addSecretsIn(run.response);
    context[workflow.name] = { response: run.response };
    context.credentials = { response: run.response };
  }
  const rendered = integration.templates.render(context);
  const parsed = parseResolvedConnection(rendered);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] ?? { path: [], message: 'invalid connection' };
    const field = `connection.${formatPath(issue.path)}`;
    throw new CredflowError('CONNECTION_INVALID', `integration "${integration.name}": ${field}: ${issue.message}`, {
      details: { integration: integration.name, field },
    });
  }
  const connection = parsed.data;
  if ('password' in connection && connection.password) deps.masker.add(connection.password);
  if ('connectionString' in connection) {
    deps.masker.add(connection.connectionString);
    deps.masker.addSecretsIn({ connectionString: connection.connectionString });
  }
  return connection;
}

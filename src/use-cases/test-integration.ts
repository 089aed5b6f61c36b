import { CredflowError } from '../errors.js';
import type { ProfileOption, TestResult } from './agent.js';
import { audited } from './audited.js';
import { queryIntegration } from './query-integration.js';
import type { UseCaseContext } from './use-case-context.js';
import { workflowOf } from './workflow-of.js';

/** Says which stage a failure belongs to, from the error table; errors of other kinds pass as they are. */
function withStage(error: unknown): unknown {
  if (!(error instanceof CredflowError)) return error;
  const stage = error.stage ?? 'internal';
  return new CredflowError(error.code, `${stage} stage failed: ${error.message}`, {
    details: { ...error.details, stage },
    cause: error,
  });
}

/** Resolves an integration and runs `SELECT 1` on it; a failure names the stage that failed. */
export async function testIntegration(
  ctx: UseCaseContext,
  name: string,
  options: ProfileOption = {},
): Promise<TestResult> {
  const target = ctx.served.integration(name);
  const started = performance.now();
  const profile = ctx.served.of(target).resolver.profileFor(target, options.profile);
  const workflow = workflowOf(target);
  await audited(
    ctx,
    {
      subject: () => ({ action: 'test', actor: options.actor, integration: name, workflow, profile }),
      mapError: withStage,
    },
    () => queryIntegration(ctx, target, { profile, sql: 'SELECT 1', params: [], actor: options.actor }),
  );
  const stages = workflow
    ? ['workflow', 'template', 'validation', 'connect', 'auth', 'query']
    : ['template', 'validation', 'connect', 'auth', 'query'];
  return { ok: true, integration: name, profile, durationMs: Math.round(performance.now() - started), stages };
}

import type { Integration } from '../config/index.js';
import type { QueryResult } from '../postgres/index.js';
import type { QueryOptions } from './agent.js';
import { audited } from './audited.js';
import { queryIntegration } from './query-integration.js';
import type { UseCaseContext } from './use-case-context.js';
import { workflowOf } from './workflow-of.js';

/** Runs a parameterised query through an integration, with the credentials of the profile asked for. */
export function query(
  ctx: UseCaseContext,
  name: string,
  sql: string,
  params: readonly unknown[] = [],
  options: QueryOptions = {},
): Promise<QueryResult> {
  const target = ctx.served.integration(name);
  return audited(
    ctx,
    {
      queryOf: name,
      // The profile whose credentials were used (the default when none was asked for), or the
      // one asked for when it was refused.
      subject: () => ({
        action: 'query',
        actor: options.actor,
        integration: name,
        workflow: workflowOf(target),
        profile: profileUsed(ctx, target, options.profile),
      }),
    },
    () =>
      queryIntegration(ctx, target, {
        profile: options.profile,
        sql,
        params,
        actor: options.actor,
        deadline: options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs,
        cancelled: options.cancelled,
      }),
  );
}

function profileUsed(ctx: UseCaseContext, target: Integration, asked: string | undefined): string | undefined {
  try {
    return ctx.served.of(target).resolver.profileFor(target, asked);
  } catch {
    return asked;
  }
}

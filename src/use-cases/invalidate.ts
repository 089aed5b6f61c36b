import type { Agent } from './agent.js';
import { audited } from './audited.js';
import type { UseCaseContext } from './use-case-context.js';
import { workflowOf } from './workflow-of.js';

/** Drops an integration's cached responses and drains its pools; running queries finish on the old pools. */
export function invalidate(
  ctx: UseCaseContext,
  name: string,
  options: Parameters<Agent['invalidate']>[1] = {},
): ReturnType<Agent['invalidate']> {
  const target = ctx.served.integration(name);
  return audited(
    ctx,
    {
      subject: () => ({ action: 'invalidate', actor: options.actor, integration: name, workflow: workflowOf(target) }),
    },
    () => {
      const droppedResponses = ctx.served.of(target).resolver.invalidate(target);
      const drainedPools = ctx.pools.drop(name);
      ctx.logger.info(
        { event: 'credentials.invalidate', integration: name, droppedResponses, drainedPools },
        'invalidated cached credentials',
      );
      return { integration: name, droppedResponses, drainedPools };
    },
  );
}

import { storesReadBy } from '../config/index.js';
import type { AgentStatus, ProfileOption } from './agent.js';
import type { UseCaseContext } from './use-case-context.js';
import { workflowOf } from './workflow-of.js';

/** An integration's cached credentials and pools for one profile (never a secret). */
export function status(ctx: UseCaseContext, name: string, options: ProfileOption = {}): AgentStatus {
  const target = ctx.served.integration(name);
  const base = ctx.served.of(target).resolver.status(target, options.profile);
  const mine = ctx.pools.stats().filter((p) => p.integration === name && p.profile === base.profile);
  const pool = mine.find((p) => !p.draining);
  const draining = mine.filter((p) => p.draining);
  const total = pool?.total ?? 0;
  const idle = pool?.idle ?? 0;
  const { integration: ofIntegration, server } = ctx.pools.connections(name, base.profile);
  const workflow = workflowOf(target);
  const steps = workflow === undefined ? undefined : ctx.served.config.workflows.get(workflow)?.steps;
  return {
    ...base,
    stores: storesReadBy(steps ?? []),
    pools: {
      total,
      idle,
      waiting: pool?.waiting ?? 0,
      draining: draining.length,
      connections: { active: total - idle, idle, draining: draining.reduce((sum, p) => sum + p.open, 0) },
      limits: { integration: ofIntegration, ...(server ? { server } : {}) },
    },
  };
}

import type { ConfigStatus } from './agent.js';
import type { UseCaseContext } from './use-case-context.js';

/** What configuration is served, since when, and how the last reload went. */
export function configStatus(ctx: UseCaseContext): ConfigStatus {
  const { config, loadedAt, lastReload } = ctx.served;
  return {
    dir: config.dir,
    integrations: config.integrations.size,
    workflows: config.workflows.size,
    loadedAt,
    lastReload,
  };
}

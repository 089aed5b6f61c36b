import type { IntegrationSummary } from './agent.js';
import type { UseCaseContext } from './use-case-context.js';
import { workflowOf } from './workflow-of.js';

export function listIntegrations(ctx: UseCaseContext): IntegrationSummary[] {
  return [...ctx.served.config.integrations.values()].map((i) => ({
    name: i.name,
    kind: i.kind,
    description: i.description,
    workflow: workflowOf(i),
  }));
}

import type { WorkflowSummary } from './agent.js';
import type { UseCaseContext } from './use-case-context.js';

export function listWorkflows(ctx: UseCaseContext): WorkflowSummary[] {
  return [...ctx.served.config.workflows.values()].map((w) => ({
    name: w.name,
    description: w.description,
    steps: w.steps.map((s) => s.name),
    params: Object.keys(w.params),
  }));
}

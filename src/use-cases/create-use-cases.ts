import type { Agent } from './agent.js';
import { configStatus } from './config-status.js';
import { describeIntegration } from './describe-integration.js';
import { describeWorkflow } from './describe-workflow.js';
import { invalidate } from './invalidate.js';
import { listIntegrations } from './list-integrations.js';
import { listWorkflows } from './list-workflows.js';
import { previewWorkflow } from './preview-workflow.js';
import { query } from './query.js';
import { createReload } from './reload.js';
import { status } from './status.js';
import { testIntegration } from './test-integration.js';
import type { UseCaseContext } from './use-case-context.js';

/** The use cases over one context; `close` is the composition root's, which owns what it stops. */
export function createUseCases(ctx: UseCaseContext, close: () => Promise<void>): Agent {
  return {
    listIntegrations: () => listIntegrations(ctx),
    describeIntegration: (name) => describeIntegration(ctx, name),
    listWorkflows: () => listWorkflows(ctx),
    describeWorkflow: (name) => describeWorkflow(ctx, name),
    previewWorkflow: (name, options) => previewWorkflow(ctx, name, options),
    testIntegration: (name, options) => testIntegration(ctx, name, options),
    query: (name, sql, params, options) => query(ctx, name, sql, params, options),
    invalidate: (name, options) => invalidate(ctx, name, options),
    status: (name, options) => status(ctx, name, options),
    reload: createReload(ctx),
    configStatus: () => configStatus(ctx),
    close,
  };
}

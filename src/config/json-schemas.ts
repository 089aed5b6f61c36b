import { z } from 'zod';
import { integrationSchema } from './integration-schema.js';
import { workflowSchema } from './workflow-schema.js';

/** JSON Schema documents for editors, generated from the zod schemas (the single source of truth). */
export function jsonSchemas(): Record<'integration' | 'workflow', unknown> {
  const options = { io: 'input', unrepresentable: 'any' } as const;
  return {
    integration: { title: 'credflow integration', ...z.toJSONSchema(integrationSchema, options) },
    workflow: { title: 'credflow workflow', ...z.toJSONSchema(workflowSchema, options) },
  };
}

export { createUseCases } from './create-use-cases.js';
export { ServedConfig } from './served-config.js';
export type { ServedConfigOptions, ServedIntegration } from './served-config.js';
export type { UseCaseContext } from './use-case-context.js';
export type {
  Agent,
  AgentStatus,
  ConfigStatus,
  IntegrationSummary,
  ProfileOption,
  QueryOptions,
  ReloadResult,
  ReloadTrigger,
  TestResult,
  WorkflowSummary,
} from './agent.js';
export type { ConfigChanges, NameChanges } from './config-changes.js';
export { maskedError } from './masked-error.js';

export { loadConfig, loadValidConfig } from './load-config.js';
export type { Integration, LoadedConfig, Workflow, WorkflowStep } from './load-config.js';
export { readAgentSettings, readAppEnv } from './agent-settings.js';
export type { AgentSettings, HttpSettings, SandboxLimits, SandboxSettings } from './agent-settings.js';
export { jsonSchemas } from './json-schemas.js';
export { maxWorkflowSteps } from './workflow-schema.js';
export { formatPath } from './format-issue.js';
export { escapeRegExp, patternRegExp } from './patterns.js';
export type { ConnectionFields } from './integration-schema.js';

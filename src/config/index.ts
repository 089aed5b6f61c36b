export { loadConfig, loadValidConfig } from './load-config.js';
export type { Integration, LoadedConfig, Workflow, WorkflowStep } from './load-config.js';
export { readAgentSettings, readAppEnv } from './agent-settings.js';
export type {
  AgentSettings,
  HttpBridgeSettings,
  HttpSettings,
  SandboxLimits,
  SandboxSettings,
  VaultSettings,
} from './agent-settings.js';
export { jsonSchemas } from './json-schemas.js';
export { maxWorkflowSteps } from './workflow-schema.js';
export { formatPath, formatZodIssues } from './format-issue.js';
export { expandEnv } from './expand-env.js';
export { plainTokenProblem, plainTokenSchema, tokenMaxLength, tokenMinLength } from './token-rules.js';
export { escapeRegExp, patternRegExp } from './patterns.js';
export { profileNameSchema } from './integration-schema.js';
export type { ConnectionFields } from './integration-schema.js';
export { identifierPattern, stepNameSchema } from './names.js';
export { stepParameters } from './step-parameters.js';
export { bridgeFunctions, bridgeRoots } from './bridge-functions.js';
export { storesReadBy } from './bridge-calls.js';
export type { BridgeFunction } from './bridge-functions.js';
export { parseResolvedConnection } from './connection-schema.js';
export type { RdsIamAuth, ResolvedConnection } from './connection-schema.js';
export { RDS_IAM_INSECURE_TLS } from './integration-schema.js';
export { defaultPorts, parseAllowedHost } from './allowed-host.js';
export type { AllowedHost } from './allowed-host.js';
export { readCertificates } from './read-ca-file.js';

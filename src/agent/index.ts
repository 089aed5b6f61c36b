export { createAgent } from './create-agent.js';
export type { AgentDeps, AgentParts, ComposedAgent } from './create-agent.js';
export { openAgent, startAgent } from './start-agent.js';
export type { OpenAgentOptions, StartAgentOptions, RunningAgent } from './start-agent.js';
export type { Agent, IntegrationSummary, TestResult, WorkflowSummary } from '../use-cases/index.js';

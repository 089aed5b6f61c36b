export { createAgent } from './create-agent.js';
export type { Agent, AgentDeps, IntegrationSummary, TestResult, WorkflowSummary } from './create-agent.js';
export { startAgent } from './start-agent.js';
export type { StartAgentOptions, RunningAgent } from './start-agent.js';

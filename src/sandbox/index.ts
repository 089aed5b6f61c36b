export { BridgeError } from './contract.js';
export type {
  BridgeHandler,
  LogLevel,
  SandboxInput,
  SandboxJob,
  SandboxOutcome,
  SandboxRunFailure,
  SandboxRunner,
  SandboxRunResult,
  SandboxStep,
  StepFailure,
  StepFailureCode,
  StepResult,
  StepsOutcome,
} from './contract.js';
export { SandboxWorkers } from './host/sandbox-workers.js';
export type { SandboxWorkersOptions } from './host/sandbox-workers.js';

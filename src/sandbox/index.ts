export { BridgeError, limitBridge, runInSandbox, StepFailure } from './run-in-sandbox.js';
export type {
  BridgeHandler,
  SandboxInput,
  SandboxRunOptions,
  SandboxRunResult,
  SandboxStep,
  StepResult,
} from './run-in-sandbox.js';
export { IsolatePool, prepareIsolate } from './isolate-pool.js';
export type { PreparedIsolate } from './isolate-pool.js';
export { SandboxWorkers } from './worker/sandbox-workers.js';
export type { SandboxJob, SandboxRunner, SandboxWorkersOptions } from './worker/sandbox-workers.js';

import type { SandboxLimits } from '../config/index.js';
import { BridgeError, type BridgeHandler } from './contract.js';

/**
 * Holds a run to its bridge budget and deadline: past either, a call is refused without reaching the
 * handler. The guest applies it where the run starts; the host applies it again for runs in a worker,
 * because the host does not take the worker's word for what a run has used.
 */
export function limitBridge(
  bridge: BridgeHandler,
  limits: Pick<SandboxLimits, 'maxBridgeCalls' | 'runTimeoutMs'>,
  deadline = Date.now() + limits.runTimeoutMs,
): BridgeHandler {
  let calls = 0;
  return (method, args) => {
    if (Date.now() >= deadline) {
      return Promise.reject(
        new BridgeError('Error', `the run is past its time limit of ${limits.runTimeoutMs} ms; no more calls are made`),
      );
    }
    calls += 1;
    if (calls > limits.maxBridgeCalls) {
      return Promise.reject(
        new BridgeError('LimitExceededException', `a run may make at most ${limits.maxBridgeCalls} bridge calls`),
      );
    }
    return bridge(method, args);
  };
}

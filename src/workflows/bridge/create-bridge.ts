import { bridgeFunctions } from '../../config/index.js';
import { BridgeError, type BridgeHandler } from '../../sandbox/index.js';
import type { BridgeDeps, BridgeFunctionHandler, StoreBridge } from './bridge-deps.js';
import { httpBridge } from './http-bridge.js';
import { secretsManagerBridge } from './secrets-manager-bridge.js';
import { ssmBridge } from './ssm-bridge.js';
import { vaultBridge } from './vault-bridge.js';

/** Every store's bridge functions; each path must be one of bridgeFunctions (checked by a test). */
const storeBridges: readonly StoreBridge[] = [secretsManagerBridge, ssmBridge, vaultBridge, httpBridge];

const labelsByPath = new Map(bridgeFunctions.map((f) => [f.path, { store: f.store, operation: f.operation }]));

/**
 * The host side of a run's bridge: routes each call by its path to its store's function, and counts
 * it in credflow_bridge_calls_total by store, operation and outcome (`ok` or the error's name).
 */
export function createBridge(deps: BridgeDeps): BridgeHandler {
  const handlers = new Map<string, BridgeFunctionHandler>();
  for (const store of storeBridges)
    for (const [path, handler] of Object.entries(store(deps))) handlers.set(path, handler);
  return async (method, args) => {
    const handler = handlers.get(method);
    const labels = labelsByPath.get(method);
    if (!handler || !labels) throw new BridgeError('TypeError', `unknown bridge method ${method}`);
    try {
      const value = await handler(args);
      deps.metrics?.bridgeCalls.inc({ ...labels, outcome: 'ok' });
      return value;
    } catch (error) {
      deps.metrics?.bridgeCalls.inc({ ...labels, outcome: error instanceof BridgeError ? error.name : 'Error' });
      throw error;
    }
  };
}

/** The paths the host serves (for the test that holds them to bridgeFunctions). */
export function servedBridgePaths(deps: BridgeDeps): string[] {
  return storeBridges.flatMap((store) => Object.keys(store(deps)));
}

import { describe, expect, it } from 'vitest';
import { bridgeFunctions, bridgeRoots, stepParameters, type Workflow } from '../../src/config/index.js';
import { SecretMasker } from '../../src/masking/index.js';
import { servedBridgePaths } from '../../src/workflows/bridge/create-bridge.js';
import type { BridgeStores } from '../../src/workflows/bridge/bridge-deps.js';

describe('the bridge functions', () => {
  it('are served on the host exactly as the sandbox lists them, each under one of its roots', () => {
    const workflow = { name: 'w', steps: [], params: {} } as unknown as Workflow;
    const served = servedBridgePaths({
      stores: {} as BridgeStores,
      masker: new SecretMasker(),
      metrics: undefined,
      workflow,
      deadline: Date.now(),
    });
    const listed = bridgeFunctions.map((f) => f.path);
    expect([...served].sort()).toEqual([...listed].sort());
    expect(new Set(listed).size).toBe(listed.length);
    for (const path of listed) expect(bridgeRoots).toContain(path.split('.')[0]);
    // The roots are step parameters, in the order the sandbox passes them.
    const at = stepParameters.indexOf('aws');
    expect(stepParameters.slice(at, at + bridgeRoots.length)).toEqual([...bridgeRoots]);
  });
});

/**
 * What the sandbox gives a step's function, in the order it passes them, before the earlier steps'
 * outputs (src/sandbox/guest/bootstrap-source.ts). Step names must not shadow them, and the config's step
 * code check compiles each step with the same parameters.
 */
export const stepParameters = [
  'console',
  'atob',
  'btoa',
  'base64',
  // The roots of the bridge functions (bridgeRoots in bridge-functions.ts), in that order.
  'aws',
  'vault',
  'http',
  'params',
  'Env',
  'context',
] as const;

/**
 * Every function step code may call on the host, by the path it has inside the sandbox (`aws`,
 * `vault` and `http` are step parameters). The sandbox builds those objects from this list, the
 * host routes each call by its path to the store's handler (src/workflows/bridge), and the metrics
 * name each call by its store and operation. docs/workflows-and-sandbox.md documents each one.
 */
export interface BridgeFunction {
  /** Where step code finds it, e.g. `aws.secretsManager.getSecretValue`. */
  path: string;
  /** The `store` label of credflow_bridge_calls_total. */
  store: string;
  /** The `operation` label: the store's own name for the call. */
  operation: string;
  /**
   * The step passes several arguments (`http.fetch(url, options)`), which the host gets as one
   * array; otherwise the host gets the one argument as it is.
   */
  positional?: true;
}

export const bridgeFunctions: readonly BridgeFunction[] = [
  { path: 'aws.secretsManager.getSecretValue', store: 'secretsmanager', operation: 'GetSecretValue' },
  { path: 'vault.kv.get', store: 'vault', operation: 'kv-get' },
  { path: 'vault.read', store: 'vault', operation: 'read' },
  { path: 'http.fetch', store: 'http', operation: 'fetch', positional: true },
  { path: 'aws.secretsManager.batchGetSecretValue', store: 'secretsmanager', operation: 'BatchGetSecretValue' },
  { path: 'aws.secretsManager.describeSecret', store: 'secretsmanager', operation: 'DescribeSecret' },
  { path: 'aws.ssm.getParameter', store: 'ssm', operation: 'GetParameter' },
  { path: 'aws.ssm.getParametersByPath', store: 'ssm', operation: 'GetParametersByPath' },
];

/** The step parameters the bridge functions hang from. */
export const bridgeRoots = ['aws', 'vault', 'http'] as const;

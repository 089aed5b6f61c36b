export { startLocalSecretsManager } from './start-local-secrets-manager.js';
export type {
  LocalSecretsManager,
  LocalSecretsManagerOptions,
  RecordedRequest,
  SecretInput,
} from './start-local-secrets-manager.js';
export type { Faults } from './faults.js';
export { defaultStoreLimits } from './secret-store.js';
export type { StoreLimits, StoreStats } from './secret-store.js';
export { randomKeyPair } from './sigv4.js';
export type { AwsKeyPair } from './sigv4.js';
export { MAX_VALUE_BYTES } from './operations.js';

export { startLocalSecretsManager } from './start-local-secrets-manager.js';
export type { LocalSecretsManager, LocalSecretsManagerOptions } from './start-local-secrets-manager.js';
export type { Faults } from './faults.js';
export type { RecordedRequest } from './request-log.js';
export type { StoreStats } from './test-secret-store.js';
export { defaultStoreLimits, MAX_VALUE_BYTES, randomKeyPair } from '../../../src/local-secrets-manager/index.js';
export type { AwsKeyPair, SecretInput, StoreLimits } from '../../../src/local-secrets-manager/index.js';
export { roleArnOf } from '../../../src/local-secrets-manager/index.js';
export type { LocalRole as TestRole } from '../../../src/local-secrets-manager/index.js';

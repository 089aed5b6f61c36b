export { startLocalSecretsManager } from './start-local-secrets-manager.js';
export type {
  LocalSecretsManager,
  LocalSecretsManagerOptions,
  RecordedRequest,
  SecretInput,
} from './start-local-secrets-manager.js';
export type { Faults } from './faults.js';

export { createSecretsGateway } from './secrets-manager-gateway.js';
export type {
  SecretAnswer,
  SecretsGateway,
  SecretsGatewayOptions,
  SecretStoreError,
} from './secrets-manager-gateway.js';
export { getSecretValueRequestSchema } from './get-secret-value-request.js';
export type { GetSecretValueRequest, SecretValue } from './get-secret-value-request.js';
export { createVaultClient, LeaseKeeper, VaultError } from './vault/index.js';
export type { KvSecret, VaultClient, VaultCredentials, VaultLease, VaultSecret } from './vault/index.js';

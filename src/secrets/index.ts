export { createSecretsGateway } from './secrets-manager-gateway.js';
export type {
  SecretAnswer,
  SecretsGateway,
  SecretsGatewayOptions,
  SecretStoreError,
} from './secrets-manager-gateway.js';
export { getSecretValueRequestSchema } from './get-secret-value-request.js';
export type { GetSecretValueRequest, SecretValue } from './get-secret-value-request.js';
export * from './http-gateway/index.js';

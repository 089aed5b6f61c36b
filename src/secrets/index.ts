export { createSecretsGateway, SecretStoreError } from './secrets-manager-gateway.js';
export type { SecretsGateway, SecretsGatewayOptions } from './secrets-manager-gateway.js';
export { getSecretValueRequestSchema } from './get-secret-value-request.js';
export type { GetSecretValueRequest, SecretValue } from './get-secret-value-request.js';

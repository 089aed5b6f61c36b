export { createSecretsGateway } from './secrets-manager-gateway.js';
export type {
  SecretAnswer,
  SecretsGateway,
  SecretsGatewayOptions,
  SecretStoreError,
  StoreAnswer,
} from './secrets-manager-gateway.js';
export { getSecretValueRequestSchema } from './get-secret-value-request.js';
export type { GetSecretValueRequest, SecretValue } from './get-secret-value-request.js';
export { RdsIamTokens } from './rds-iam-tokens.js';
export type { RdsIamTarget, RdsIamTokensOptions } from './rds-iam-tokens.js';
export { awsCallIdentityShape } from './aws-call-identity.js';
export type { AwsCallIdentity } from './aws-call-identity.js';
export { createAwsIdentity, defaultSessionName } from './aws-identity.js';
export type { AwsIdentity, AwsIdentityOptions, IdentityAnswer } from './aws-identity.js';
export type { AwsKeys } from './sts-client.js';
export { createVaultClient, LeaseKeeper, VaultError } from './vault/index.js';
export type { KvSecret, VaultClient, VaultCredentials, VaultLease, VaultSecret } from './vault/index.js';
export * from './http-gateway/index.js';
export { batchGetSecretValueRequestSchema, describeSecretRequestSchema } from './secrets-manager-requests.js';
export type {
  BatchGetSecretValueRequest,
  BatchSecretError,
  BatchSecretValues,
  DescribeSecretRequest,
  SecretDescription,
} from './secrets-manager-requests.js';
export { createSsmGateway } from './ssm-gateway.js';
export type { SsmGateway } from './ssm-gateway.js';
export {
  getParameterRequestSchema,
  getParametersByPathRequestSchema,
  maxParameterPages,
  parametersPerPage,
} from './ssm-requests.js';
export type { GetParameterRequest, GetParametersByPathRequest, Parameter } from './ssm-requests.js';
export type { AwsGatewayOptions } from './aws-clients.js';

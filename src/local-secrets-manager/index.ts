export { startLocalSecretsManager, wireValue } from './start-local-secrets-manager.js';
export type {
  EndpointExtension,
  Interception,
  LocalSecretsManager,
  LocalSecretsManagerOptions,
  SecretInput,
} from './start-local-secrets-manager.js';
export { AWSCURRENT, defaultStoreLimits, labelCount, limitExceeded, SecretStore } from './secret-store.js';
export type { SecretRotation, SecretStoreOptions, SecretVersion, StoredSecret, StoreLimits } from './secret-store.js';
export type { SecretValue } from './secret-value.js';
export { randomKeyPair } from './sigv4.js';
export type { AwsKeyPair } from './sigv4.js';
export {
  describeSecret,
  epochSeconds,
  MAX_VALUE_BYTES,
  operations,
  SECRET_ID,
  STAGE,
  TOKEN,
  versionsToStages,
} from './operations.js';
export type { Operation } from './operations.js';
export { Params } from './params.js';
export type { IncomingCall } from './read-request.js';
export { AwsServiceError, invalidParameter, invalidRequest, validationError } from './aws-service-error.js';
export { LOCAL_ACCOUNT } from './sts-sessions.js';
export type { AssumeRoleAsk, RolePolicy, Session } from './sts-sessions.js';
export { accessDenied } from './sts-query.js';
export { PARAMETER_TYPES, ParameterStore } from './parameter-store.js';
export type { ParameterStoreOptions, ParameterType, StoredParameter } from './parameter-store.js';
export { ssmOperations } from './ssm-operations.js';
export { decodePageToken, encodePageToken } from './page-token.js';
export { RoleRegistry, roleArnOf } from './role-registry.js';
export type { LocalRole, RoleRegistryOptions } from './role-registry.js';

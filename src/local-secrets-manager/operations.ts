import { AwsServiceError, invalidParameter, invalidRequest, validationError } from './aws-service-error.js';
import type { Params } from './params.js';
import { AWSCURRENT } from './secret-store.js';
import type { SecretStore, SecretVersion, StoredSecret } from './secret-store.js';
import type { SecretValue } from './secret-value.js';

/** One Secrets Manager operation: reads its request body and answers from (or changes) the store. */
export type Operation<Store extends SecretStore = SecretStore> = (
  params: Params,
  store: Store,
) => Record<string, unknown>;

/** Length bounds of request members, as the service's model gives them. */
export const SECRET_ID = { min: 1, max: 2048 };
export const TOKEN = { min: 32, max: 64 };
export const STAGE = { min: 1, max: 256 };
/** AWS's own limit on a secret value: 65,536 bytes (UTF-8 for a SecretString). */
export const MAX_VALUE_BYTES = 65_536;
const VALUE = { max: MAX_VALUE_BYTES };
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@!-]{1,512}$/;

/**
 * The operations the demo needs, by the name after `secretsmanager.` in X-Amz-Target: the agent
 * reads with GetSecretValue, BatchGetSecretValue and DescribeSecret, `credflow secrets put` writes
 * with CreateSecret and PutSecretValue.
 */
export const operations = {
  CreateSecret(params, store) {
    const name = params.requiredString('Name', { min: 1, max: 512 });
    if (!NAME_PATTERN.test(name)) {
      throw invalidParameter(
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    }
    const description = params.string('Description', { max: 2048 });
    const token = params.string('ClientRequestToken', TOKEN);
    const { secret, version } = store.create({
      name,
      ...(readValue(params) ?? {}),
      ...(description === undefined ? {} : { description }),
      ...(token === undefined ? {} : { token }),
    });
    return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.versionId } : {}) };
  },

  GetSecretValue(params, store) {
    const secretId = params.requiredString('SecretId', SECRET_ID);
    const versionId = params.string('VersionId', TOKEN);
    const versionStage = params.string('VersionStage', STAGE);
    return secretValueOf(
      store.getValue(secretId, {
        ...(versionId === undefined ? {} : { versionId }),
        ...(versionStage === undefined ? {} : { versionStage }),
      }),
    );
  },

  DescribeSecret(params, store) {
    const secret = store.find(params.requiredString('SecretId', SECRET_ID));
    return { ...describeSecret(secret, store), VersionIdsToStages: versionsToStages(secret) };
  },

  /** By SecretIdList only (Filters are not served); each secret's failure is an entry of Errors, as the service answers. */
  BatchGetSecretValue(params, store) {
    const ids = params.stringList('SecretIdList', { min: 1, max: 20 }, SECRET_ID);
    if (params.objectList('Filters') !== undefined)
      throw invalidParameter('Filters are not supported by this endpoint.');
    if (ids === undefined) throw invalidParameter('Either SecretIdList or Filters must be specified.');
    const values: Record<string, unknown>[] = [];
    const errors: Record<string, unknown>[] = [];
    for (const secretId of ids) {
      try {
        values.push(secretValueOf(store.getValue(secretId, {})));
      } catch (error) {
        if (!(error instanceof AwsServiceError)) throw error;
        errors.push({ SecretId: secretId, ErrorCode: error.type, Message: error.message });
      }
    }
    return { SecretValues: values, Errors: errors };
  },

  PutSecretValue(params, store) {
    const secretId = params.requiredString('SecretId', SECRET_ID);
    const token = params.string('ClientRequestToken', TOKEN);
    const stages = params.stringList('VersionStages', { min: 1, max: 20 }, STAGE);
    const input = readValue(params);
    if (!input) throw invalidRequest('You must provide either SecretString or SecretBinary.');
    const { secret, version } = store.putValue(secretId, input.value, stages ?? [AWSCURRENT], token);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: [...version.stages] };
  },
} satisfies Record<string, Operation>;

export function findOperation(name: string): Operation | undefined {
  return Object.hasOwn(operations, name) ? operations[name as keyof typeof operations] : undefined;
}

/**
 * The secret value of a create or put. An empty SecretString counts as none, as the service
 * refuses empty values.
 */
function readValue(params: Params): { value: SecretValue } | undefined {
  const string = params.string('SecretString', VALUE);
  const binary = params.binary('SecretBinary', VALUE);
  // The length check above counts characters; the limit is on bytes.
  if (string !== undefined && Buffer.byteLength(string, 'utf8') > MAX_VALUE_BYTES) {
    throw validationError(
      `Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to ${MAX_VALUE_BYTES}`,
    );
  }
  const hasString = string !== undefined && string !== '';
  const hasBinary = binary !== undefined && binary.length > 0;
  if (hasString && hasBinary) {
    throw invalidParameter(
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (hasString) return { value: { SecretString: string } };
  if (hasBinary) return { value: { SecretBinary: binary } };
  return undefined;
}

function secretValueOf({ secret, version }: { secret: StoredSecret; version: SecretVersion }): Record<string, unknown> {
  return {
    ARN: secret.arn,
    Name: secret.name,
    VersionId: version.versionId,
    ...encodeValue(version.value),
    VersionStages: [...version.stages],
    CreatedDate: epochSeconds(version.createdDate),
  };
}

/** What DescribeSecret and ListSecrets say of a secret, besides its versions. */
export function describeSecret(secret: StoredSecret, store: SecretStore): Record<string, unknown> {
  const deletedDate = store.deletedDateOf(secret);
  const { rotation } = secret;
  return {
    ARN: secret.arn,
    Name: secret.name,
    ...(secret.description === undefined ? {} : { Description: secret.description }),
    RotationEnabled: rotation?.enabled ?? false,
    ...(rotation?.lastRotatedDate === undefined ? {} : { LastRotatedDate: epochSeconds(rotation.lastRotatedDate) }),
    ...(rotation?.nextRotationDate === undefined ? {} : { NextRotationDate: epochSeconds(rotation.nextRotationDate) }),
    LastChangedDate: epochSeconds(secret.lastChangedDate),
    ...(secret.lastAccessedDate === undefined ? {} : { LastAccessedDate: epochSeconds(secret.lastAccessedDate) }),
    ...(deletedDate === undefined ? {} : { DeletedDate: epochSeconds(deletedDate) }),
    CreatedDate: epochSeconds(secret.createdDate),
  };
}

/** Versions without a label are deprecated and left out, as the service does. */
export function versionsToStages(secret: StoredSecret): Record<string, string[]> {
  const map: Record<string, string[]> = {};
  for (const version of secret.versions.values()) {
    if (version.stages.size > 0) map[version.versionId] = [...version.stages];
  }
  return map;
}

function encodeValue(value: SecretValue): Record<string, string> {
  if (value.SecretBinary !== undefined) return { SecretBinary: Buffer.from(value.SecretBinary).toString('base64') };
  return { SecretString: value.SecretString ?? '' };
}

export function epochSeconds(ms: number): number {
  return ms / 1000;
}

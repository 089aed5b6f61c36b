import { invalidParameter, invalidRequest, validationError } from './aws-service-error.js';
import { listSecrets } from './list-secrets.js';
import type { Params } from './params.js';
import { AWSCURRENT } from './secret-store.js';
import type { SecretStore, StoredSecret } from './secret-store.js';
import type { SecretValue } from './secret-value.js';

export type Operation = (params: Params, store: SecretStore) => Record<string, unknown>;

const SECRET_ID = { min: 1, max: 2048 };
const TOKEN = { min: 32, max: 64 };
const STAGE = { min: 1, max: 256 };
/** AWS's own limit on a secret value: 65,536 bytes (UTF-8 for a SecretString). */
export const MAX_VALUE_BYTES = 65_536;
const VALUE = { max: MAX_VALUE_BYTES };
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@!-]{1,512}$/;

/** The supported Secrets Manager operations, by the name after `secretsmanager.` in X-Amz-Target. */
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
    const { secret, version } = store.getValue(secretId, {
      ...(versionId === undefined ? {} : { versionId }),
      ...(versionStage === undefined ? {} : { versionStage }),
    });
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      ...encodeValue(version.value),
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.createdDate),
    };
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

  UpdateSecretVersionStage(params, store) {
    const secretId = params.requiredString('SecretId', SECRET_ID);
    const stage = params.requiredString('VersionStage', STAGE);
    const moveTo = params.string('MoveToVersionId', TOKEN);
    const removeFrom = params.string('RemoveFromVersionId', TOKEN);
    const secret = store.updateStage(secretId, stage, moveTo, removeFrom);
    return { ARN: secret.arn, Name: secret.name };
  },

  DescribeSecret(params, store) {
    const secret = store.find(params.requiredString('SecretId', SECRET_ID));
    return { ...describe(secret), VersionIdsToStages: versionsToStages(secret) };
  },

  ListSecrets(params, store) {
    const { secrets, nextToken } = listSecrets(params, store.list());
    return {
      SecretList: secrets.map((secret) => ({ ...describe(secret), SecretVersionsToStages: versionsToStages(secret) })),
      ...(nextToken === undefined ? {} : { NextToken: nextToken }),
    };
  },

  DeleteSecret(params, store) {
    const secretId = params.requiredString('SecretId', SECRET_ID);
    const force = params.boolean('ForceDeleteWithoutRecovery') ?? false;
    const days = params.integer('RecoveryWindowInDays');
    if (force && days !== undefined) {
      throw invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    }
    if (days !== undefined && (days < 7 || days > 30)) {
      throw invalidParameter('The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    }
    const { secret, deletionDate } = store.delete(secretId, { force, recoveryWindowInDays: days ?? 30 });
    return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(deletionDate) };
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

function encodeValue(value: SecretValue): Record<string, string> {
  if (value.SecretBinary !== undefined) return { SecretBinary: Buffer.from(value.SecretBinary).toString('base64') };
  return { SecretString: value.SecretString ?? '' };
}

function describe(secret: StoredSecret): Record<string, unknown> {
  return {
    ARN: secret.arn,
    Name: secret.name,
    ...(secret.description === undefined ? {} : { Description: secret.description }),
    LastChangedDate: epochSeconds(secret.lastChangedDate),
    ...(secret.lastAccessedDate === undefined ? {} : { LastAccessedDate: epochSeconds(secret.lastAccessedDate) }),
    ...(secret.deletedDate === undefined ? {} : { DeletedDate: epochSeconds(secret.deletedDate) }),
    CreatedDate: epochSeconds(secret.createdDate),
  };
}

/** Versions without a label are deprecated and left out, as the service does. */
function versionsToStages(secret: StoredSecret): Record<string, string[]> {
  const map: Record<string, string[]> = {};
  for (const version of secret.versions.values()) {
    if (version.stages.size > 0) map[version.versionId] = [...version.stages];
  }
  return map;
}

function epochSeconds(ms: number): number {
  return ms / 1000;
}

import { invalidParameter, invalidRequest, validationError } from './aws-service-error.js';
import type { Params } from './params.js';
import { AWSCURRENT } from './secret-store.js';
import type { SecretStore } from './secret-store.js';
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
 * reads with GetSecretValue, `credflow secrets put` writes with CreateSecret and PutSecretValue.
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

export function epochSeconds(ms: number): number {
  return ms / 1000;
}

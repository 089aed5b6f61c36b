import {
  epochSeconds,
  invalidParameter,
  SECRET_ID,
  STAGE,
  TOKEN,
  type Operation,
  type StoredSecret,
} from '../../../src/local-secrets-manager/index.js';
import { listSecrets } from './list-secrets.js';
import type { TestSecretStore } from './test-secret-store.js';

/**
 * The Secrets Manager operations the agent and `credflow secrets put` never call, which the tests
 * use to set up and inspect rotations: answered by the tests' double only.
 */
export const extraOperations = {
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
    return { ...describe(secret, store), VersionIdsToStages: versionsToStages(secret) };
  },

  ListSecrets(params, store) {
    const { secrets, nextToken } = listSecrets(params, store.list(), (secret) => store.deletedDateOf(secret));
    return {
      SecretList: secrets.map((secret) => ({
        ...describe(secret, store),
        SecretVersionsToStages: versionsToStages(secret),
      })),
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
} satisfies Record<string, Operation<TestSecretStore>>;

function describe(secret: StoredSecret, store: TestSecretStore): Record<string, unknown> {
  const deletedDate = store.deletedDateOf(secret);
  return {
    ARN: secret.arn,
    Name: secret.name,
    ...(secret.description === undefined ? {} : { Description: secret.description }),
    LastChangedDate: epochSeconds(secret.lastChangedDate),
    ...(secret.lastAccessedDate === undefined ? {} : { LastAccessedDate: epochSeconds(secret.lastAccessedDate) }),
    ...(deletedDate === undefined ? {} : { DeletedDate: epochSeconds(deletedDate) }),
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

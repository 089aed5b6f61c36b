import {
  describeSecret,
  epochSeconds,
  invalidParameter,
  SECRET_ID,
  STAGE,
  TOKEN,
  versionsToStages,
  type Operation,
} from '../../../src/local-secrets-manager/index.js';
import { listSecrets } from './list-secrets.js';
import type { TestSecretStore } from './test-secret-store.js';

/**
 * The Secrets Manager operations the agent and `credflow secrets put` never call, which the tests
 * use to set up and inspect rotations: answered by the tests' double only (DescribeSecret, which
 * the agent calls, is the shipped endpoint's).
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

  ListSecrets(params, store) {
    const { secrets, nextToken } = listSecrets(params, store.list(), (secret) => store.deletedDateOf(secret));
    return {
      SecretList: secrets.map((secret) => ({
        ...describeSecret(secret, store),
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

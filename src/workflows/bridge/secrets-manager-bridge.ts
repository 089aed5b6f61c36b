import type { Workflow } from '../../config/index.js';
import type { SecretMasker } from '../../masking/index.js';
import {
  batchGetSecretValueRequestSchema,
  describeSecretRequestSchema,
  getSecretValueRequestSchema,
  type BatchSecretError,
  type SecretValue,
} from '../../secrets/index.js';
import { compileSecretAllowlist, type SecretAllowlist } from '../secret-allowlist.js';
import type { StoreBridge } from './bridge-deps.js';
import { withAssumedRole } from './assume-role.js';
import { callStore, notAllowed } from './call-store.js';
import { learnSecret } from './learn-secret.js';
import { parseBridgeArgs } from './parse-bridge-args.js';

const allowlists = new WeakMap<Workflow, SecretAllowlist>();
const allowlistOf = (workflow: Workflow): SecretAllowlist => {
  let found = allowlists.get(workflow);
  if (!found) allowlists.set(workflow, (found = compileSecretAllowlist(workflow.allowedSecrets)));
  return found;
};

const refusal = (workflow: Workflow, secretId: string) =>
  `workflow "${workflow.name}" may not read the secret "${secretId}": it is not in the workflow's allowedSecrets`;

/**
 * `aws.secretsManager.*`: validate, check the workflow's allowedSecrets, call, remember what must
 * be masked. Credentials a step passes are its own choice of strings, not learnt: the agent's
 * configured ones (Env, AWS_SECRET_ACCESS_KEY) are registered when it starts.
 */
export const secretsManagerBridge: StoreBridge = (deps) => {
  const { stores, masker, metrics, workflow } = deps;
  return {
    'aws.secretsManager.getSecretValue': async (args) => {
      const request = parseBridgeArgs(getSecretValueRequestSchema, args, 'getSecretValue');
      if (!allowlistOf(workflow)(request.SecretId)) {
        throw notAllowed(metrics, 'GetSecretValue', 'AccessDeniedException', refusal(workflow, request.SecretId));
      }
      // The role a call names is assumed first (its refusals keep STS's names): see withAssumedRole.
      const asWho = await withAssumedRole(deps, request, 'getSecretValue');
      return callStore(
        { masker, metrics },
        'GetSecretValue',
        () => stores.secretsManager.getSecretValue(asWho),
        (value) => learnValue(masker, value),
      );
    },

    /**
     * Ids the workflow may not read are not asked for: each is an entry of Errors
     * (AccessDeniedException), as the service reports a secret the caller has no access to.
     */
    'aws.secretsManager.batchGetSecretValue': async (args) => {
      const request = parseBridgeArgs(batchGetSecretValueRequestSchema, args, 'batchGetSecretValue');
      const allowed = allowlistOf(workflow);
      const refused: BatchSecretError[] = request.SecretIdList.filter((id) => !allowed(id)).map((id) => ({
        SecretId: id,
        ErrorCode: 'AccessDeniedException',
        Message: refusal(workflow, id),
      }));
      const asked = request.SecretIdList.filter((id) => allowed(id));
      if (asked.length === 0) {
        metrics?.secretStoreCalls.observe({ operation: 'BatchGetSecretValue', outcome: 'NotAllowed' }, 0);
        return { SecretValues: [], Errors: refused };
      }
      const asWho = await withAssumedRole(deps, request, 'batchGetSecretValue');
      const answer = await callStore(
        { masker, metrics },
        'BatchGetSecretValue',
        () => stores.secretsManager.batchGetSecretValue({ ...asWho, SecretIdList: asked }),
        (value) => {
          for (const secret of value.SecretValues) learnValue(masker, secret);
        },
      );
      // A store's message may quote what it was given; masked like any error a step sees.
      const errors = answer.Errors.map((e) => ({ ...e, Message: masker.mask(e.Message) }));
      return { SecretValues: answer.SecretValues, Errors: [...refused, ...errors] };
    },

    /** Metadata only (no value): allowed by the same allowedSecrets, since names and rotation dates say what a workflow reads. */
    'aws.secretsManager.describeSecret': async (args) => {
      const request = parseBridgeArgs(describeSecretRequestSchema, args, 'describeSecret');
      if (!allowlistOf(workflow)(request.SecretId)) {
        throw notAllowed(metrics, 'DescribeSecret', 'AccessDeniedException', refusal(workflow, request.SecretId));
      }
      const asWho = await withAssumedRole(deps, request, 'describeSecret');
      return callStore({ masker, metrics }, 'DescribeSecret', () => stores.secretsManager.describeSecret(asWho));
    },
  };
};

function learnValue(masker: SecretMasker, value: SecretValue): void {
  if (value.SecretString !== undefined) learnSecret(masker, value.SecretString);
  if (value.SecretBinary !== undefined) {
    // Steps decode it (base64.decode): the text and what it holds are secrets too.
    masker.add(value.SecretBinary, false);
    learnSecret(masker, Buffer.from(value.SecretBinary, 'base64').toString('utf8'));
  }
}

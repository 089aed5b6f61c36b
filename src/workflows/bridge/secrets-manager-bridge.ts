import type { Workflow } from '../../config/index.js';
import { CredflowError } from '../../errors.js';
import { BridgeError } from '../../sandbox/index.js';
import { getSecretValueRequestSchema, type SecretAnswer } from '../../secrets/index.js';
import { compileSecretAllowlist, type SecretAllowlist } from '../secret-allowlist.js';
import type { StoreBridge } from './bridge-deps.js';
import { withAssumedRole } from './assume-role.js';
import { learnSecret } from './learn-secret.js';
import { parseBridgeArgs } from './parse-bridge-args.js';

const allowlists = new WeakMap<Workflow, SecretAllowlist>();
const allowlistOf = (workflow: Workflow): SecretAllowlist => {
  let found = allowlists.get(workflow);
  if (!found) allowlists.set(workflow, (found = compileSecretAllowlist(workflow.allowedSecrets)));
  return found;
};

/**
 * `aws.secretsManager.getSecretValue`: validate, check the workflow's allowedSecrets, assume the
 * role it names (if any), call, remember what must be masked.
 */
export const secretsManagerBridge: StoreBridge = (deps) => ({
  'aws.secretsManager.getSecretValue': async (args) => {
    const { stores, masker, metrics, workflow } = deps;
    const request = parseBridgeArgs(getSecretValueRequestSchema, args, 'getSecretValue');
    if (!allowlistOf(workflow)(request.SecretId)) {
      metrics?.secretStoreCalls.observe({ operation: 'GetSecretValue', outcome: 'NotAllowed' }, 0);
      throw new BridgeError(
        'AccessDeniedException',
        `workflow "${workflow.name}" may not read the secret "${request.SecretId}": it is not in the workflow's allowedSecrets`,
      );
    }
    // Credentials a step passes are its own choice of strings, not learnt: the agent's configured
    // ones (Env, AWS_SECRET_ACCESS_KEY) are registered when it starts.
    const started = performance.now();
    const observe = (outcome: string) =>
      metrics?.secretStoreCalls.observe({ operation: 'GetSecretValue', outcome }, (performance.now() - started) / 1000);
    let asWho;
    try {
      asWho = await withAssumedRole(deps, request, 'getSecretValue');
    } catch (error) {
      observe(error instanceof BridgeError ? error.name : 'Error');
      throw error;
    }
    let answer: SecretAnswer;
    try {
      answer = await stores.secretsManager.getSecretValue(asWho);
    } catch {
      observe('Error');
      throw new BridgeError('Error', 'getSecretValue failed');
    }
    if (!answer.ok) {
      observe(answer.error.name);
      throw new BridgeError(answer.error.name, masker.mask(answer.error.message));
    }
    const { value } = answer;
    try {
      if (value.SecretString !== undefined) learnSecret(masker, value.SecretString);
      if (value.SecretBinary !== undefined) {
        // Steps decode it (base64.decode): the text and what it holds are secrets too.
        masker.add(value.SecretBinary, false);
        learnSecret(masker, Buffer.from(value.SecretBinary, 'base64').toString('utf8'));
      }
    } catch (error) {
      // The masker is full of values that cached credentials hold: the step must not see a value
      // the agent could not mask.
      observe('Error');
      if (error instanceof CredflowError) throw new BridgeError('LimitExceededException', error.message);
      throw new BridgeError('Error', 'getSecretValue failed');
    }
    observe('ok');
    return value;
  },
});

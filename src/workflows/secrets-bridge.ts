import { CredflowError, truncate } from '../errors.js';
import type { Metrics } from '../metrics/index.js';
import type { SecretMasker } from '../masking/index.js';
import { BridgeError, type BridgeHandler } from '../sandbox/index.js';
import { getSecretValueRequestSchema, type SecretAnswer, type SecretsGateway } from '../secrets/index.js';
import type { SecretAllowlist } from './secret-allowlist.js';

interface BridgeDeps {
  secrets: SecretsGateway;
  masker: SecretMasker;
  metrics: Metrics | undefined;
  allowed: SecretAllowlist;
  workflow: string;
}

/**
 * The host side of `aws.secretsManager.getSecretValue`: validate, check the workflow's
 * allowedSecrets, call, remember what must be masked.
 */
export function createSecretsBridge({ secrets, masker, metrics, allowed, workflow }: BridgeDeps): BridgeHandler {
  return async (method, args) => {
    if (method !== 'secretsManager.getSecretValue')
      throw new BridgeError('TypeError', `unknown bridge method ${method}`);
    const parsed = getSecretValueRequestSchema.safeParse(args);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ');
      throw new BridgeError('InvalidParameterException', `getSecretValue: ${truncate(problems, 1000)}`);
    }
    if (!allowed(parsed.data.SecretId)) {
      metrics?.secretStoreCalls.observe({ operation: 'GetSecretValue', outcome: 'NotAllowed' }, 0);
      throw new BridgeError(
        'AccessDeniedException',
        `workflow "${workflow}" may not read the secret "${parsed.data.SecretId}": it is not in the workflow's allowedSecrets`,
      );
    }
    // Credentials a step passes are its own choice of strings, not learnt: the agent's configured
    // ones (Env, AWS_SECRET_ACCESS_KEY) are registered when it starts.
    const started = performance.now();
    const observe = (outcome: string) =>
      metrics?.secretStoreCalls.observe({ operation: 'GetSecretValue', outcome }, (performance.now() - started) / 1000);
    let answer: SecretAnswer;
    try {
      answer = await secrets.getSecretValue(parsed.data);
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
  };
}

/**
 * A secret as read from the store: a JSON document is learnt whole (without its fragments: its
 * structure is not secret) and by its secret leaves; any other text (`sk_live_...`) whole and in
 * fragments.
 */
function learnSecret(masker: SecretMasker, text: string): void {
  const parsed = tryParseJson(text);
  const document = parsed !== null && typeof parsed === 'object';
  masker.add(text, !document);
  if (document) masker.addSecretsIn(parsed);
}

function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

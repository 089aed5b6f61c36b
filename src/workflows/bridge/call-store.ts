import { CredflowError } from '../../errors.js';
import type { SecretMasker } from '../../masking/index.js';
import type { Metrics } from '../../metrics/index.js';
import { BridgeError } from '../../sandbox/index.js';
import type { StoreAnswer } from '../../secrets/index.js';

/**
 * One store call of a bridge function, timed in credflow_secret_store_call_duration_seconds by
 * `operation`: the store's refusal becomes a BridgeError keeping its name (message masked), and
 * `learn` registers what the answer holds with the masker before the step may see it.
 */
export async function callStore<T>(
  deps: { masker: SecretMasker; metrics: Metrics | undefined },
  operation: string,
  call: () => Promise<StoreAnswer<T>>,
  learn: (value: T) => void = () => undefined,
): Promise<T> {
  const { masker, metrics } = deps;
  const started = performance.now();
  const observe = (outcome: string) =>
    metrics?.secretStoreCalls.observe({ operation, outcome }, (performance.now() - started) / 1000);
  let answer: StoreAnswer<T>;
  try {
    answer = await call();
  } catch {
    observe('Error');
    throw new BridgeError('Error', `${lowerFirst(operation)} failed`);
  }
  if (!answer.ok) {
    observe(answer.error.name);
    throw new BridgeError(answer.error.name, masker.mask(answer.error.message));
  }
  try {
    learn(answer.value);
  } catch (error) {
    // The masker is full of values that cached credentials hold: the step must not see a value
    // the agent could not mask.
    observe('Error');
    if (error instanceof CredflowError) throw new BridgeError('LimitExceededException', error.message);
    throw new BridgeError('Error', `${lowerFirst(operation)} failed`);
  }
  observe('ok');
  return answer.value;
}

/** A refusal by the workflow's allowlist, counted like a store outcome (it took no time). */
export function notAllowed(
  metrics: Metrics | undefined,
  operation: string,
  errorName: string,
  message: string,
): BridgeError {
  metrics?.secretStoreCalls.observe({ operation, outcome: 'NotAllowed' }, 0);
  return new BridgeError(errorName, message);
}

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

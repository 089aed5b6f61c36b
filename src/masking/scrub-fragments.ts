import { MIN_FRAGMENTED_LENGTH, SecretIndex } from './secret-index.js';

/**
 * Masks, in `text`, every run of MIN_SUBSTRING_LENGTH or more characters of any of `secrets` (those of
 * MIN_FRAGMENTED_LENGTH characters or more). For a failed run's error, checked against the values the
 * run itself read before the error is kept anywhere: it does not depend on what the agent-wide masker
 * still holds when the error is shown later. A throw-away index of those fragments; meant for rare texts.
 */
export function scrubFragments(text: string, secrets: Iterable<string>, mask: string): string {
  const index = new SecretIndex();
  for (const secret of secrets) if (secret.length >= MIN_FRAGMENTED_LENGTH) index.addSecret(secret, [], true);
  return index.replace(text, mask);
}

import { MIN_FRAGMENTED_LENGTH, MIN_SUBSTRING_LENGTH } from './secret-index.js';

/**
 * Masks, in `text`, every run of MIN_SUBSTRING_LENGTH or more characters of any of `secrets` (those of
 * MIN_FRAGMENTED_LENGTH characters or more). For a failed run's error, checked against the values the
 * run itself read before the error is kept anywhere: it does not depend on what the agent-wide masker
 * still holds when the error is shown later. Costs the secrets' length once; meant for rare texts.
 */
export function scrubFragments(text: string, secrets: Iterable<string>, mask: string): string {
  const windows = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_FRAGMENTED_LENGTH) continue;
    for (let index = 0; index + MIN_SUBSTRING_LENGTH <= secret.length; index++) windows.add(secret.slice(index, index + MIN_SUBSTRING_LENGTH));
  }
  if (windows.size === 0) return text;
  let out = '';
  let copied = 0;
  let start = -1;
  let end = -1;
  for (let index = 0; index + MIN_SUBSTRING_LENGTH <= text.length; index++) {
    if (!windows.has(text.slice(index, index + MIN_SUBSTRING_LENGTH))) continue;
    if (index < end) {
      end = index + MIN_SUBSTRING_LENGTH;
      continue;
    }
    if (start >= 0) {
      out += text.slice(copied, start) + mask;
      copied = end;
    }
    start = index;
    end = index + MIN_SUBSTRING_LENGTH;
  }
  if (start < 0) return text;
  return out + text.slice(copied, start) + mask + text.slice(end);
}

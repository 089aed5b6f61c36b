import type { SecretMasker } from '../../masking/index.js';

/**
 * A secret as read from a store: a JSON document is learnt whole (without its fragments: its
 * structure is not secret) and by its secret leaves; any other text (`sk_live_...`) whole and in
 * fragments.
 */
export function learnSecret(masker: SecretMasker, text: string): void {
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

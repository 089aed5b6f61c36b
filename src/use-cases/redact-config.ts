import { isSecretKey, MASK, type SecretMasker } from '../masking/index.js';

const onlyReferences = /^(\s*(<<[^<>]*>>|\$\{[A-Za-z_][A-Za-z0-9_]*\})\s*)+$/;

/**
 * Keys whose values name things rather than hold secrets, even when a secret word is in the key:
 * `fetchCredentialsDynamically` (its workflow, params and profiles), `allowedSecrets` and
 * `allowedParameters` (secret and parameter name patterns), and keys ending in a naming word (`secretName`, `secretId`, `secretArn`, `tokenId`).
 */
const IDENTIFIER_KEYS = new Set([
  'fetchCredentialsDynamically',
  'allowedSecrets',
  'allowedParameters',
  'allowedHosts',
  'workflow',
  'code',
]);
const NAMING_LAST_WORD = /(?:^|[a-z0-9_-])(?:Name|Names|Id|Ids|Arn|Arns|_name|_id|_arn|-name|-id|-arn)$/;

function namesSomething(key: string): boolean {
  return IDENTIFIER_KEYS.has(key) || NAMING_LAST_WORD.test(key);
}

/**
 * A configuration document as written, safe to show: identifiers (workflow, secret and parameter
 * names, hosts) are shown; under secret-named keys (`password`, `token`, ...) literal values are
 * masked while templates and `${VAR}` references stay readable (they are not secrets, and the
 * document is shown as written, before expansion). Every string also passes through the masker.
 */
export function redactConfig(value: unknown, masker: SecretMasker, underSecretKey = false): unknown {
  if (typeof value === 'string') {
    if (underSecretKey && !onlyReferences.test(value)) return MASK;
    return masker.mask(value);
  }
  if (Array.isArray(value)) return value.map((item) => redactConfig(item, masker, underSecretKey));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // Step code is not a value: show it, but still pass it through the masker.
      out[key] = redactConfig(item, masker, namesSomething(key) ? false : underSecretKey || isSecretKey(key));
    }
    return out;
  }
  if (underSecretKey && value !== null && typeof value !== 'boolean') return MASK;
  return value;
}

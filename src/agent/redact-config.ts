import { isSecretKey, MASK, type SecretMasker } from '../masking/index.js';

const onlyReferences = /^(\s*(<<[^<>]*>>|\$\{[A-Za-z_][A-Za-z0-9_]*\})\s*)+$/;

/**
 * A configuration document as written, safe to show: under secret-named keys, templates and
 * `${VAR}` references stay readable (they are not secrets) while literal values are masked.
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
      out[key] = redactConfig(item, masker, underSecretKey || (isSecretKey(key) && key !== 'code'));
    }
    return out;
  }
  if (underSecretKey && value !== null && typeof value !== 'boolean') return MASK;
  return value;
}

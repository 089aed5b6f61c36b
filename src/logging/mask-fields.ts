import pino from 'pino';
import type { SecretMasker } from '../masking/index.js';

/** Values the agent itself chooses (event names, outcomes, codes, token ids): never masked. */
const AGENT_CHOSEN = new Set(['event', 'action', 'outcome', 'code', 'stage', 'cache', 'tokenId', 'background']);

/**
 * Names that may come from a caller (the path of a refused request, an unknown integration): a
 * configured integration or workflow name is shown as is, anything else is masked where it holds a
 * whole secret, but not for fragments, so a route pattern never loses a word.
 */
const IDENTIFIERS = new Set(['route', 'integration', 'workflow', 'profile']);

const MAX_DEPTH = 16;

/**
 * A copy of a log line's fields with every string value masked, before it is serialised: keys and
 * JSON structure are never touched, so a line stays valid JSON whatever the masker has registered.
 * Errors become pino's `{ type, message, stack, ... }` first.
 */
export function maskFields(fields: Readonly<Record<string, unknown>>, masker: SecretMasker): Record<string, unknown> {
  return maskObject(fields, masker, 0);
}

function maskObject(fields: object, masker: SecretMasker, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string') {
      if (AGENT_CHOSEN.has(key)) out[key] = value;
      else if (IDENTIFIERS.has(key)) out[key] = masker.isName(value) ? value : masker.maskWhole(value);
      else out[key] = masker.mask(value);
    } else {
      out[key] = maskAny(value, masker, depth + 1);
    }
  }
  return out;
}

function maskAny(value: unknown, masker: SecretMasker, depth: number): unknown {
  if (typeof value === 'string') return masker.mask(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[Nested]';
  if (value instanceof Error) return maskObject(pino.stdSerializers.err(value), masker, depth);
  if (Array.isArray(value)) return value.map((item) => maskAny(item, masker, depth + 1));
  return maskObject(value, masker, depth);
}

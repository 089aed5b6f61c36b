/** The outcome of evaluating one expression: a value, or why there is none (never containing a value). */
export type Resolution = { found: true; value: unknown } | { found: false; reason: string };

/**
 * Follows a path through own properties only, as Handlebars does with prototype access disabled, so
 * `response.constructor` or `response.__proto__` is missing rather than a function or a prototype.
 * null and undefined count as missing. The reason names where the walk stopped, never a value.
 */
export function resolvePath(context: Record<string, unknown>, parts: readonly string[]): Resolution {
  let current: unknown = context;
  for (const [index, part] of parts.entries()) {
    const at = parts.slice(0, index).join('.');
    if (typeof current !== 'object' || current === null) {
      return { found: false, reason: `${at} is ${kindOf(current)}, not an object` };
    }
    if (!Object.hasOwn(current, part)) {
      return { found: false, reason: index === 0 ? rootReason(context, part) : `${at} has no ${JSON.stringify(part)}` };
    }
    current = (current as Record<string, unknown>)[part];
  }
  if (current === null || current === undefined) {
    return { found: false, reason: `${parts.join('.')} is ${kindOf(current)}` };
  }
  return { found: true, value: current };
}

function rootReason(context: Record<string, unknown>, part: string): string {
  // Top-level names are workflow names, "credentials" and "Env": safe to list, and the likeliest typo.
  const available = Object.keys(context)
    .map((name) => JSON.stringify(name))
    .join(', ');
  return `the context has no ${JSON.stringify(part)}; it has ${available || 'nothing'}`;
}

/** A value's kind for messages, e.g. "a string"; never the value itself. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

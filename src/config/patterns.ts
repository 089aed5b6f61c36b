export const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Name patterns from configuration (`orders`, `analytics-*`, `prod/db/*`), where `*` matches any
 * run of characters, compiled into one anchored RegExp.
 */
export function patternRegExp(patterns: readonly string[], flags = ''): RegExp {
  return new RegExp(`^(?:${patterns.map((p) => p.split('*').map(escapeRegExp).join('.*')).join('|')})$`, flags);
}

import { patternRegExp } from '../config/index.js';

/**
 * What a token may do. `reveal` includes `preview`; nothing else includes anything.
 * - read: list and show configuration, status, metrics
 * - query: test integrations and query through them
 * - preview: run workflows and see their responses masked
 * - reveal: see workflow previews unmasked
 * - admin: invalidate cached credentials
 */
export const scopes = ['read', 'query', 'preview', 'reveal', 'admin'] as const;

export type Scope = (typeof scopes)[number];

/** A name filter built from `*` patterns (`orders`, `analytics-*`, `*`). */
export type NameFilter = (name: string) => boolean;

export function nameFilter(patterns: readonly string[]): NameFilter {
  if (patterns.includes('*')) return () => true;
  if (patterns.length === 0) return () => false;
  const regex = patternRegExp(patterns);
  return (name) => regex.test(name);
}

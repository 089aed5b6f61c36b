import type { Integration } from '../config/index.js';

/** `all`: keep the whole response; otherwise the paths (inside `response`) that templates read. */
export type NeededPaths = 'all' | string[][];

/**
 * The parts of each workflow's response that integrations' templates read, so a cached value holds
 * nothing but what connections need. A template that reads the whole response (or through a helper
 * such as `lookup`) keeps it all.
 */
export function neededPathsByWorkflow(integrations: Iterable<Integration>): Map<string, NeededPaths> {
  const needed = new Map<string, NeededPaths>();
  for (const integration of integrations) {
    const dynamic = integration.fetchCredentialsDynamically;
    if (!dynamic?.enabled) continue;
    let paths = needed.get(dynamic.workflow) ?? [];
    for (const parts of integration.templates.pathParts) {
      if (parts[0] !== dynamic.workflow && parts[0] !== 'credentials') continue;
      const inner = parts.slice(2);
      if (parts[1] !== 'response' || inner.length === 0) paths = 'all';
      if (paths !== 'all') paths.push(inner);
    }
    needed.set(dynamic.workflow, paths);
  }
  return needed;
}

/** A copy of `response` with only the needed paths; a path it lacks is left out (the template will say so). */
export function pruneResponse(response: unknown, needed: NeededPaths | undefined): unknown {
  if (needed === undefined || needed === 'all' || response === null || typeof response !== 'object') return response;
  const out: Record<string, unknown> = {};
  // Shorter paths first: once a subtree is kept whole, deeper paths inside it are already there.
  const taken = new Set<string>();
  for (const path of [...needed].sort((a, b) => a.length - b.length)) {
    if (path.some((_, i) => taken.has(path.slice(0, i + 1).join('\u0000')))) continue;
    taken.add(path.join('\u0000'));
    let source: unknown = response;
    let target = out;
    for (const [index, key] of path.entries()) {
      if (source === null || typeof source !== 'object' || !Object.hasOwn(source, key)) break;
      source = (source as Record<string, unknown>)[key];
      if (index === path.length - 1) {
        Object.defineProperty(target, key, { value: source, enumerable: true, writable: true, configurable: true });
      } else {
        const next = Object.hasOwn(target, key) ? target[key] : {};
        Object.defineProperty(target, key, { value: next, enumerable: true, writable: true, configurable: true });
        target = next as Record<string, unknown>;
      }
    }
  }
  return out;
}

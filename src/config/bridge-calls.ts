import { bridgeFunctions, bridgeRoots, type BridgeFunction } from './bridge-functions.js';

/**
 * A static scan of step code for what it reaches under `aws.`, `vault.` and `http.`. It reads the
 * text, not the syntax: a path written inside a string or a comment counts too, and a call through
 * an alias (`const sm = aws.secretsManager; sm.listSecrets()`) is seen only as far as `aws.secretsManager`.
 * That is enough to warn of a mistyped call before it fails at run time, and to name the stores a
 * workflow reads.
 */

// `foo.aws.x` is a property of something else: the look-behind skips paths that follow a dot.
const pathPattern = new RegExp(
  String.raw`(?<![\w$]|\.\s*)\b(?:${bridgeRoots.join('|')})\s*\.\s*[A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*`,
  'g',
);

export interface BridgePathUse {
  /** The path without spaces, e.g. `aws.ssm.getParameter`. */
  path: string;
  /** 1-based line of the step's code where it is first written. */
  line: number;
}

/** Every distinct bridge path the code writes, in order of first appearance. */
export function bridgePathsIn(code: string): BridgePathUse[] {
  const seen = new Map<string, BridgePathUse>();
  for (const match of code.matchAll(pathPattern)) {
    const path = match[0].replace(/\s+/g, '');
    if (seen.has(path)) continue;
    seen.set(path, { path, line: code.slice(0, match.index).split('\n').length });
  }
  return [...seen.values()];
}

/**
 * The functions a path reaches: the one it names (or a property of it, `http.fetch.call`), or all
 * those under it when it stops short (`aws.ssm`). Empty: the path names nothing the bridge has.
 */
export function functionsReachedBy(path: string): BridgeFunction[] {
  const named = bridgeFunctions.find((f) => path === f.path || path.startsWith(`${f.path}.`));
  if (named) return [named];
  return bridgeFunctions.filter((f) => f.path.startsWith(`${path}.`));
}

/** The store labels (bridge-functions.ts) the steps' code reaches, sorted and distinct. */
export function storesReadBy(steps: readonly { code: string }[]): string[] {
  const stores = new Set<string>();
  for (const step of steps)
    for (const use of bridgePathsIn(step.code)) for (const f of functionsReachedBy(use.path)) stores.add(f.store);
  return [...stores].sort();
}

/** The known path closest to an unknown one, if any is close enough to be a likely typo. */
export function closestBridgePath(path: string): string | undefined {
  const candidates = new Set<string>();
  for (const f of bridgeFunctions) {
    const parts = f.path.split('.');
    for (let n = 2; n <= parts.length; n += 1) candidates.add(parts.slice(0, n).join('.'));
  }
  let best: { path: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(path.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { path: candidate, distance };
  }
  // A quarter of the length: `getSecret` finds `getSecretValue`; `s3.getObject` and `listSecrets` find nothing.
  return best && best.distance <= Math.max(2, Math.floor(path.length / 4)) ? best.path : undefined;
}

/** The functions of the longest known object an unknown path goes through (`aws.secretsManager.listSecrets`). */
export function functionsBeside(path: string): string[] {
  const parts = path.split('.');
  for (let n = parts.length - 1; n >= 2; n -= 1) {
    const under = functionsReachedBy(parts.slice(0, n).join('.'));
    if (under.length > 0) return under.map((f) => f.path);
  }
  return [];
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

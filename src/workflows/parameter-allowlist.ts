import { patternRegExp } from '../config/index.js';

/** Answers whether a workflow may read an SSM parameter, or list a path; built once per workflow. */
export interface ParameterAllowlist {
  /** A parameter `Name` as the step gives it (or as the store answers it). */
  name(name: string): boolean;
  /** A getParametersByPath `Path`: matched as the path with a trailing `/`, so `/prod/db/*` allows `/prod/db`. */
  path(path: string): boolean;
}

/**
 * `allowedParameters` patterns, where `*` matches any run of characters, slashes included, matched
 * against the name as given: an ARN only by a pattern written as an ARN. A version or label
 * selector (`/prod/db/password:3`) is left out of the match: it picks a version of the same
 * parameter. Without patterns (undefined) every parameter is allowed; an empty list allows none.
 */
export function compileParameterAllowlist(patterns: readonly string[] | undefined): ParameterAllowlist {
  if (patterns === undefined) return { name: () => true, path: () => true };
  if (patterns.length === 0) return { name: () => false, path: () => false };
  const regex = patternRegExp(patterns, 's');
  return {
    name: (name) => regex.test(name.startsWith('arn:') ? name : name.replace(/:[^/:]*$/, '')),
    path: (path) => regex.test(path.endsWith('/') ? path : `${path}/`),
  };
}

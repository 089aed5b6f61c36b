import { patternRegExp } from '../config/index.js';

/** Answers whether a workflow may read an SSM parameter, or list a path; built once per workflow. */
export interface ParameterAllowlist {
  /** A parameter `Name` as the step gives it (or as the store answers it). */
  name(name: string): boolean;
  /** A getParametersByPath `Path`: whether some pattern can match a parameter under it. */
  path(path: string): boolean;
}

/**
 * `allowedParameters` patterns, where `*` matches any run of characters, slashes included, matched
 * against the name as given: an ARN only by a pattern written as an ARN. A version or label
 * selector (`/prod/db/password:3`) is left out of the match: it picks a version of the same
 * parameter. A path may be listed when some pattern can match a name under it (`/prod/db/password`
 * allows listing `/prod/db` and `/prod`); what the listing returns is then filtered by `name`.
 * Without patterns (undefined) every parameter is allowed; an empty list allows none.
 */
export function compileParameterAllowlist(patterns: readonly string[] | undefined): ParameterAllowlist {
  if (patterns === undefined) return { name: () => true, path: () => true };
  if (patterns.length === 0) return { name: () => false, path: () => false };
  const regex = patternRegExp(patterns, 's');
  return {
    name: (name) => regex.test(name.startsWith('arn:') ? name : name.replace(/:[^/:]*$/, '')),
    path: (path) => {
      const under = path.endsWith('/') ? path : `${path}/`;
      return patterns.some((pattern) => {
        const star = pattern.indexOf('*');
        // The literal start of the pattern either lies under the path, or (with a `*` to take up
        // the rest of the path) is a start of it.
        const literal = star === -1 ? pattern : pattern.slice(0, star);
        return literal.startsWith(under) || (star !== -1 && under.startsWith(literal));
      });
    },
  };
}

import { CredflowError } from '../errors.js';
import { formatPath } from './format-issue.js';

/** Deeper documents are refused: no configuration needs more, and the walk is recursive. */
const MAX_DEPTH = 64;

const pattern = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** `${VAR}` in one string; `field` names it in the error (`connection.password`). */
export function expandText(text: string, file: string, field: string, env: NodeJS.ProcessEnv): string {
  return text.replace(pattern, (whole, escaped: string, name: string) => {
    if (escaped) return whole.slice(1);
    const replacement = env[name];
    if (replacement === undefined) {
      throw new CredflowError('ENV_VAR_MISSING', `${file}: ${field}: environment variable ${name} is not set`, {
        details: { file, path: field, variable: name },
      });
    }
    return replacement;
  });
}

/**
 * Replaces `${VAR}` in every string of a parsed JSON value with the environment variable VAR
 * (as Bruin does). An unset variable is an error naming the file and the JSON path, never an empty
 * string. `$${VAR}` stands for a literal `${VAR}`. Paths for which `skip` answers true are left alone
 * (step code is JavaScript, where `${...}` belongs to template literals).
 */
export function expandEnv(
  value: unknown,
  file: string,
  env: NodeJS.ProcessEnv,
  skip: (path: (string | number)[]) => boolean = () => false,
  path: (string | number)[] = [],
): unknown {
  if (skip(path)) return value;
  if (path.length > MAX_DEPTH) {
    throw new CredflowError(
      'CONFIG_INVALID',
      `${file}: ${formatPath(path.slice(0, 8))}…: nested deeper than ${MAX_DEPTH} levels`,
      {
        details: { file },
      },
    );
  }
  if (typeof value === 'string') return expandText(value, file, formatPath(path), env);
  if (Array.isArray(value)) return value.map((item, i) => expandEnv(item, file, env, skip, [...path, i]));
  if (value !== null && typeof value === 'object') {
    // fromEntries defines own properties: a "__proto__" key stays a key and never sets a prototype.
    const out: Record<string, unknown> = Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, expandEnv(item, file, env, skip, [...path, key])]),
    );
    return out;
  }
  return value;
}

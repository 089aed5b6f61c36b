import { patternRegExp } from '../config/index.js';

/** Answers whether a workflow may read a SecretId; built once per workflow. */
export type SecretAllowlist = (secretId: string) => boolean;

/**
 * `allowedSecrets` patterns, where `*` matches any run of characters, slashes included. A pattern
 * is matched against the SecretId as the step gives it; a SecretId that is an ARN is also matched by
 * what follows `:secret:` (the name with AWS's 6-character suffix), so `prod/db/*` allows
 * `arn:aws:secretsmanager:…:secret:prod/db/orders-AbCdEf`. The suffix is never trimmed: a partial
 * ARN may name another secret whose name merely ends in `-xxxxxx`. Without patterns (undefined)
 * every secret is allowed; an empty list allows none.
 */
export function compileSecretAllowlist(patterns: readonly string[] | undefined): SecretAllowlist {
  if (patterns === undefined) return () => true;
  if (patterns.length === 0) return () => false;
  const regex = patternRegExp(patterns, 's');
  return (secretId) => {
    if (regex.test(secretId)) return true;
    const name = /^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.+)$/s.exec(secretId)?.[1];
    return name !== undefined && regex.test(name);
  };
}

import { patternRegExp } from '../config/index.js';

/** Answers whether a workflow may assume a role ARN; built once per workflow. */
export type RoleAllowlist = (roleArn: string) => boolean;

/**
 * `allowedRoles` patterns, where `*` matches any run of characters. Unlike allowedSecrets, a
 * workflow without the setting may assume no role: its reads otherwise use the agent's own identity,
 * which the operator scoped, while a role is another identity (often another account's) that each
 * workflow must be granted by name.
 */
export function compileRoleAllowlist(patterns: readonly string[] | undefined): RoleAllowlist {
  if (patterns === undefined || patterns.length === 0) return () => false;
  const regex = patternRegExp(patterns, 's');
  return (roleArn) => regex.test(roleArn);
}

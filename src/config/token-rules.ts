import { z } from 'zod';

/** Shortest and longest plain token accepted, in CREDFLOW_API_TOKENS and in a tokens file alike. */
export const tokenMinLength = 16;
export const tokenMaxLength = 1024;

// What a client can send after "Bearer " and have compared as written: a token with a space or a
// character outside ASCII could never authenticate.
const visibleAscii = /^[\x21-\x7E]+$/;

/** What is wrong with a plain token, without quoting it; undefined when nothing is. */
export function plainTokenProblem(token: string): string | undefined {
  if (token.length < tokenMinLength) return `must be at least ${tokenMinLength} characters (it has ${token.length})`;
  if (token.length > tokenMaxLength) return `must be at most ${tokenMaxLength} characters`;
  if (!visibleAscii.test(token)) return 'must be printable ASCII without spaces (letters, digits and punctuation)';
  return undefined;
}

/** A plain token as zod sees it: the rules above, with messages that never quote the token. */
export const plainTokenSchema = z.string().superRefine((token, ctx) => {
  const problem = plainTokenProblem(token);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

import { z } from 'zod';
import { builtinGlobalNames } from './builtin-global-names.js';
import { stepParameters } from './step-parameters.js';

/** Names of integrations and workflows: safe as file names, URL segments and template roots. */
export const configNameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, {
  message: 'must start with a letter and hold only letters, digits, "_" or "-" (at most 64)',
});

const keywords =
  'await break case catch class const continue debugger default delete do else enum export extends false finally for function if implements import in instanceof interface let new null package private protected public return static super switch this throw true try typeof var void while with yield arguments eval';

/**
 * Step names become globals inside the sandbox (`fetch.output`), so they must be identifiers that
 * shadow neither a keyword, a built-in global (Object, JSON, undefined, ...), nor what the sandbox
 * provides.
 */
export const reservedStepNames: ReadonlySet<string> = new Set([
  ...keywords.split(' '),
  ...builtinGlobalNames(),
  ...stepParameters,
  'globalThis',
]);

/** A JavaScript identifier of at most 64 characters, as step names must be. */
export const identifierPattern = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;

export const stepNameSchema = z
  .string()
  .regex(identifierPattern, { message: 'must be a JavaScript identifier' })
  .refine((name) => !reservedStepNames.has(name) && !name.startsWith('__cf_'), {
    message:
      'must not be a JavaScript keyword, a built-in global (Object, JSON, undefined, ...) or one the sandbox provides (params, Env, context, aws, vault, http, console, atob, btoa, base64)',
  });

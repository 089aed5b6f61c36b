import { z } from 'zod';

/** Names of integrations and workflows: safe as file names, URL segments and template roots. */
export const configNameSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, {
    message: 'must start with a letter and hold only letters, digits, "_" or "-" (at most 64)',
  });

/** Step names become globals inside the sandbox, so they must be identifiers and not shadow the built-ins. */
export const reservedStepNames = new Set(['params', 'Env', 'context', 'aws', 'console', 'globalThis']);

export const stepNameSchema = z
  .string()
  .regex(/^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/, { message: 'must be a JavaScript identifier' })
  .refine((name) => !reservedStepNames.has(name), {
    message: `must not be one of ${[...reservedStepNames].join(', ')}`,
  });

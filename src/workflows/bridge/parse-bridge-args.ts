import type { z } from 'zod';
import { truncate } from '../../errors.js';
import { BridgeError } from '../../sandbox/index.js';

/** Checks a step's argument against `schema`; a mismatch is the store's own error name, naming the fields. */
export function parseBridgeArgs<T extends z.ZodType>(
  schema: T,
  args: unknown,
  operation: string,
  errorName = 'InvalidParameterException',
): z.infer<T> {
  const parsed = schema.safeParse(args);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ');
  throw new BridgeError(errorName, `${operation}: ${truncate(problems, 1000)}`);
}

import type { z } from 'zod';
import { CredflowError } from '../errors.js';
import { formatPath } from '../config/index.js';

/** Validates a request body with zod; the error names each bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${formatPath(i.path) === '(root)' ? 'body' : formatPath(i.path)}: ${i.message}`);
  throw new CredflowError('BAD_REQUEST', `invalid request body: ${problems.join('; ')}`, { details: { problems } });
}

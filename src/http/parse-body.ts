import type { z } from 'zod';
import { CredflowError, truncate } from '../errors.js';
import { formatPath } from '../config/index.js';

/** Deeper bodies are refused: nothing credflow accepts needs more, and deep values strain every recursive walk after. */
export const MAX_BODY_DEPTH = 32;

/** Whether a parsed JSON value nests deeper than `max` (measured without recursion). */
function deeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (item === null || typeof item !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Validates a request body with zod; the error names each bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (deeperThan(body, MAX_BODY_DEPTH)) {
    throw new CredflowError('BAD_REQUEST', `invalid request body: nested deeper than ${MAX_BODY_DEPTH} levels`);
  }
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (i) => `${formatPath(i.path) === '(root)' ? 'body' : formatPath(i.path)}: ${i.message}`,
  );
  const message = problems.join('; ');
  throw new CredflowError('BAD_REQUEST', `invalid request body: ${truncate(message, 2000)}`, {
    details: { problems: problems.slice(0, 50) },
  });
}

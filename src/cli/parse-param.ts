import { InvalidArgumentError } from 'commander';
import { profileNameSchema } from '../config/index.js';

/**
 * `--param key=value` for workflow params: a value that parses as JSON is used as JSON (numbers,
 * booleans, objects); anything else is a string. Quote to force a string: `--param 'id="42"'`.
 */
export function collectKeyValue(raw: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${raw}"`);
  const key = raw.slice(0, eq);
  const text = raw.slice(eq + 1);
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    // not JSON: keep the string
  }
  return { ...previous, [key]: value };
}

/** `--param value` for query parameters: repeated, kept as text ($1, $2, ...; Postgres casts them). */
export function collectList(raw: string, previous: string[] = []): string[] {
  return [...previous, raw];
}

/** `--profile <name>`: checked like the API's `?profile=`; a bad name is bad usage (exit 2). */
export function parseProfile(raw: string): string {
  const result = profileNameSchema.safeParse(raw);
  if (!result.success) throw new InvalidArgumentError(result.error.issues[0]?.message ?? 'invalid profile name');
  return result.data;
}

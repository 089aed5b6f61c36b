import { CredflowError } from '../errors.js';
import { safeJsonText, safeLines, safeMessage } from './safe-text.js';

/** JSON as the API returns it (`--json`): exact values; JSON escapes the C0 controls itself. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A value as indented JSON for reading (a preview's response): still JSON of the same value, with
 * the characters of src/cli/safe-text.ts escaped as `\uHHHH`.
 */
export function printReadableJson(value: unknown): void {
  process.stdout.write(`${safeJsonText(JSON.stringify(value, null, 2) ?? 'undefined')}\n`);
}

/** Readable output on stdout; control characters are escaped (newlines and tabs kept). */
export function printLine(text = ''): void {
  process.stdout.write(`${safeLines(text)}\n`);
}

/** A readable notice or problem line on stderr, escaped like printLine. */
export function printNotice(text: string): void {
  process.stderr.write(`${safeLines(text)}\n`);
}

/**
 * Prints an error (already masked by the agent) the way the HTTP API would shape it (with --json) or
 * as one readable entry, `credflow: error [CODE]: message`, whose later lines (if any) are indented.
 */
export function printError(error: unknown, json: boolean): void {
  const e =
    error instanceof CredflowError
      ? error
      : new CredflowError('INTERNAL', `unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  if (json) {
    printJson({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
    return;
  }
  process.stderr.write(`credflow: error [${e.code}]: ${safeMessage(e.message)}\n`);
}

import { CredflowError } from '../errors.js';

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** Prints an error (already masked by the agent) the way the HTTP API would shape it (with --json) or as one readable line. */
export function printError(error: unknown, json: boolean): void {
  const e = error instanceof CredflowError ? error : new CredflowError('INTERNAL', `unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  if (json) {
    printJson({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
    return;
  }
  process.stderr.write(`credflow: error [${e.code}]: ${e.message}\n`);
}

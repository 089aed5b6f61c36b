import { CredflowError } from '../errors.js';
import type { ErrorCode } from '../errors.js';

/** Where a template lives, for error messages: `field` is a JSON-ish path like "connection.password". */
export interface TemplateLocation {
  integration: string;
  field: string;
}

/**
 * Builds the one message shape every template error uses, e.g.
 * `integration "demo-postgres": connection.password: <<getSecrets.response.pasword>> has no value (...)`.
 * Callers must never put a rendered value in `problem`: these messages reach logs and HTTP responses.
 */
export function templateError(
  code: Extract<ErrorCode, 'TEMPLATE_INVALID' | 'TEMPLATE_MISSING_VALUE'>,
  where: TemplateLocation,
  expression: string,
  problem: string,
  cause?: unknown,
): CredflowError {
  const template = `<<${expression}>>`;
  return new CredflowError(
    code,
    `integration ${JSON.stringify(where.integration)}: ${where.field}: ${template} ${problem}`,
    { details: { integration: where.integration, field: where.field, template }, cause },
  );
}

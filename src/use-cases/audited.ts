import { audit, type AuditEvent } from '../access/index.js';
import { CredflowError } from '../errors.js';
import type { UseCaseContext } from './use-case-context.js';

export interface AuditedOptions {
  /** The audit line's subject, read when the use case ends (a query's profile is known only then). */
  subject: () => Omit<AuditEvent, 'outcome' | 'code' | 'durationMs'>;
  /** Also times the use case in the queries histogram, under this integration. */
  queryOf?: string;
  /** The error the caller sees for a failure (the audit line keeps the failure's own code). */
  mapError?: (error: unknown) => unknown;
}

const codeOf = (error: unknown): string => (error instanceof CredflowError ? error.code : 'INTERNAL');

/**
 * Runs a use case that touches credentials and writes its one audit line (and, for a query, its
 * metric), whether it succeeds or fails, synchronously or not: the only place use cases audit and
 * map their errors.
 */
export function audited<T>(ctx: Pick<UseCaseContext, 'lines' | 'metrics'>, options: AuditedOptions, run: () => T): T {
  const started = performance.now();
  const end = (code: string | undefined): void => {
    const ms = performance.now() - started;
    if (options.queryOf !== undefined)
      ctx.metrics.queries.observe({ integration: options.queryOf, outcome: code ?? 'ok' }, ms / 1000);
    audit(ctx.lines, { ...options.subject(), outcome: code ? 'error' : 'ok', code, durationMs: ms });
  };
  const failed = (error: unknown): never => {
    end(codeOf(error));
    throw options.mapError ? options.mapError(error) : error;
  };
  let result: T;
  try {
    result = run();
  } catch (error) {
    return failed(error);
  }
  if (!(result instanceof Promise)) {
    end(undefined);
    return result;
  }
  return result.then((value: unknown) => {
    end(undefined);
    return value;
  }, failed) as T;
}

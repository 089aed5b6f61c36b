import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { CredflowError } from '../errors.js';
import { cutText } from '../logging/index.js';
import type { SecretMasker } from '../masking/index.js';
import { maskedError } from '../use-cases/index.js';

/**
 * The one place errors become HTTP responses: `{ error: { code, message, details? } }` with the
 * status of the code. Unknown errors are a generic 500, logged once; every error is masked here (see maskedError).
 */
export function errorHandler(logger: Logger, masker: SecretMasker): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const known = toCredflowError(error);
    if (!known) {
      logger.error(
        { event: 'http.unhandled', method: req.method, path: cutText(req.path), err: error },
        'unhandled error',
      );
    }
    const e = maskedError(known ?? new CredflowError('INTERNAL', 'internal error'), masker);
    const body: { code: string; message: string; details?: unknown } = { code: e.code, message: e.message };
    if (e.details) body.details = e.details;
    // A retryable refusal (CONNECTION_LIMIT, TOO_MANY_AUTH_FAILURES, ...) says when to come back.
    const retryAfter = e.details?.retryAfterSeconds;
    if (typeof retryAfter === 'number' && Number.isInteger(retryAfter) && retryAfter > 0)
      res.set('Retry-After', String(retryAfter));
    res.status(e.status).json({ error: body });
  };
}

/** express and body-parser errors carry a status and type; translate the ones a client causes. */
function toCredflowError(error: unknown): CredflowError | undefined {
  if (error instanceof CredflowError) return error;
  const e = error as { type?: string; status?: number; limit?: number };
  if (e?.type === 'entity.too.large')
    return new CredflowError('PAYLOAD_TOO_LARGE', `request body is over the limit of ${e.limit} bytes`);
  if (e?.type === 'entity.parse.failed') return new CredflowError('BAD_REQUEST', 'request body is not valid JSON');
  // express could not decode a route parameter (`%ED%A0%80`, `%zz`): the path is at fault.
  if (error instanceof URIError)
    return new CredflowError(
      'BAD_REQUEST',
      'the URL path holds a malformed percent-encoding (each %XX must be hex and decode to UTF-8)',
    );
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return new CredflowError('BAD_REQUEST', 'bad request');
  }
  return undefined;
}

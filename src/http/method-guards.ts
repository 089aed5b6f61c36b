import type { Request, RequestHandler } from 'express';
import { CredflowError, truncate } from '../errors.js';

/**
 * For a known path reached with another method: 405 with the `Allow` header (RFC 9110), or the
 * list of methods for OPTIONS. Mount it with `.all(path, …)` after the path's own handlers.
 */
export function methodNotAllowed(...methods: string[]): RequestHandler {
  const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
  return (req, res, next) => {
    res.set('Allow', allow);
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next(
      new CredflowError(
        'METHOD_NOT_ALLOWED',
        `${req.method} is not allowed on ${truncate(req.originalUrl.split('?')[0] ?? '', 200)}; use ${methods.join(' or ')}`,
        { details: { allow: methods } },
      ),
    );
  };
}

const hasBody = (req: Request): boolean =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

const isJson = (req: Request): boolean =>
  (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() === 'application/json';

/**
 * 415 for a body that is not sent as JSON, which the JSON parser would otherwise skip (the route
 * then saw no body at all). `required`: the route needs a body, so no Content-Type is refused even
 * without one; otherwise an empty body needs none.
 */
export function requireJson(required: boolean): RequestHandler {
  return (req, _res, next) => {
    if (isJson(req) || (!required && !hasBody(req))) {
      next();
      return;
    }
    const sent = req.headers['content-type'];
    next(
      new CredflowError(
        'UNSUPPORTED_MEDIA_TYPE',
        `the request body must be JSON, sent with the header Content-Type: application/json (${sent ? `got ${JSON.stringify(sent.slice(0, 100))}` : 'no Content-Type header was sent'})`,
      ),
    );
  };
}

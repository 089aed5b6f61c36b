import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { CredflowError } from '../errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Bearer-token auth. Tokens are compared as SHA-256 digests in constant time, so neither the
 * length nor the content of a configured token leaks through timing.
 */
export function requireToken(tokens: readonly string[]): RequestHandler {
  const digests = tokens.map(digest);
  return (req, _res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      next(new CredflowError('UNAUTHORIZED', 'missing bearer token: send Authorization: Bearer <token>'));
      return;
    }
    const given = digest(match[1]);
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(d, given) || ok;
    next(ok ? undefined : new CredflowError('UNAUTHORIZED', 'invalid bearer token'));
  };
}

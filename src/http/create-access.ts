import { timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { sha256, type AccessToken, type Scope } from '../access/index.js';
import { CredflowError } from '../errors.js';
import { cutText } from '../logging/index.js';
import type { AuthFailureLimiter } from './auth-failure-limiter.js';
import { clientAddressKey } from './client-address.js';
import type { HttpMetrics } from './http-metrics.js';

export interface Access {
  /** Bearer-token auth; the matching token goes to `res.locals.token`. */
  authenticate: RequestHandler;
  /** 403 unless the token has `scope` and, with `kind`, reaches the route's `:name`. */
  need(scope: Scope, kind?: 'integration' | 'workflow'): RequestHandler;
  /** The same check inside a route (a scope that depends on the body); throws the 403 after its audit line. */
  check(req: Request, res: Response, scope: Scope, kind?: 'integration' | 'workflow'): void;
}

/**
 * A token not seen before is hashed (SHA-256) and compared with every configured digest in constant
 * time (no early exit), so neither the length nor the content of a configured token leaks through
 * timing. Every refusal (401 and 403) is an audit line, but for an address that fails too often
 * (see AuthFailureLimiter): its next requests get 429 without their token being checked, and one
 * summary line. An Authorization header already accepted still passes, so a client that has
 * authenticated keeps working while someone at its address (a shared host, a proxy) floods.
 */
export function createAccess(
  tokens: readonly AccessToken[],
  logger: Logger,
  failures: { limiter: AuthFailureLimiter; metrics: HttpMetrics },
): Access {
  // Authorization headers already accepted, by their text: a client sends the same one on every
  // request, and parsing and hashing it each time is most of the cost of authentication. Only
  // accepted tokens enter, at most a few spellings of each configured token; a wrong token is
  // always hashed and compared.
  const accepted = new Map<string, AccessToken>();
  const maxAccepted = tokens.length * 4;
  const check: Access['check'] = (req, res, scope, kind) => {
    try {
      checkAccess(tokenOf(res), scope, kind ? { kind, name: String(req.params.name) } : undefined);
    } catch (error) {
      deny(logger, req, tokenOf(res).id, 'forbidden');
      throw error;
    }
  };
  return {
    check,
    authenticate(req, res, next) {
      const header = req.headers.authorization ?? '';
      const known = accepted.get(header);
      if (known !== undefined) {
        res.locals.token = known;
        next();
        return;
      }
      const address = clientAddressKey(req.socket.remoteAddress);
      const retryAfterSeconds = failures.limiter.refuse(address);
      if (retryAfterSeconds > 0) {
        failures.metrics.authRateLimited.inc();
        const message = `too many failed authentications from this address: retry in ${retryAfterSeconds} s`;
        next(new CredflowError('TOO_MANY_AUTH_FAILURES', message, { details: { retryAfterSeconds } }));
        return;
      }
      const refuse = (message: string): void => {
        failures.limiter.failed(address);
        failures.metrics.authFailures.inc();
        deny(logger, req, undefined, 'unauthorized');
        next(new CredflowError('UNAUTHORIZED', message));
      };
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match?.[1]) {
        refuse('missing bearer token: send Authorization: Bearer <token>');
        return;
      }
      const given = sha256(match[1]);
      let found: AccessToken | undefined;
      for (const token of tokens) if (timingSafeEqual(token.digest, given) && !found) found = token;
      if (found && accepted.size < maxAccepted) accepted.set(header, found);
      if (!found) {
        refuse('invalid bearer token');
        return;
      }
      res.locals.token = found;
      next();
    },
    need(scope, kind) {
      return (req, res, next) => {
        try {
          check(req, res, scope, kind);
        } catch (error) {
          next(error);
          return;
        }
        next();
      };
    },
  };
}

export function tokenOf(res: Response): AccessToken {
  return res.locals.token as AccessToken;
}

const verbs: Record<Scope, string> = {
  read: 'read',
  query: 'query',
  preview: 'preview',
  reveal: 'reveal previews of',
  admin: 'administer',
};

/**
 * 403 unless the token has the scope and, for a named integration or workflow, reaches that name.
 * The check comes before any lookup and says the same for names that do not exist, so a 403 never
 * tells whether an integration exists.
 */
export function checkAccess(
  token: AccessToken,
  scope: Scope,
  target?: { kind: 'integration' | 'workflow'; name: string },
): void {
  if (!token.scopes.has(scope)) {
    throw new CredflowError('FORBIDDEN', `this token lacks the "${scope}" scope`, { details: { scope } });
  }
  if (!target) return;
  const reaches = target.kind === 'integration' ? token.integrations(target.name) : token.workflows(target.name);
  if (!reaches) {
    throw new CredflowError('FORBIDDEN', `this token may not ${verbs[scope]} the ${target.kind} "${target.name}"`, {
      details: { scope },
    });
  }
}

export function deny(
  logger: Logger,
  req: Request,
  tokenId: string | undefined,
  outcome: 'unauthorized' | 'forbidden',
): void {
  logger.info(
    {
      event: 'audit',
      action: 'access',
      tokenId,
      route: `${req.method} ${cutText(req.originalUrl.split('?')[0] ?? '')}`,
      outcome,
    },
    'access denied',
  );
}

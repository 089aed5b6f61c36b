import { randomBytes, randomUUID } from 'node:crypto';
import { patternRegExp } from '../config/index.js';
import { badRequest, permissionDenied } from './vault-reply.js';

/** An AppRole the endpoint accepts: its role_id and secret_id, and what its tokens may read. */
export interface AppRoleSpec {
  roleId: string;
  secretId: string;
  /** Path patterns (`*` any run of characters) its tokens may use; default: every path. */
  paths?: readonly string[];
  /** Lifetime of its tokens (default 3600 s); they are renewable. */
  tokenTtlSeconds?: number;
}

interface Token {
  accessor: string;
  policies: string[];
  /** Undefined: never expires (the root token). */
  expiresAt: number | undefined;
  ttlSeconds: number;
  renewable: boolean;
  allowed: (path: string) => boolean;
}

/** The endpoint's tokens: the root token, and the ones AppRole logins issue. */
export class Tokens {
  private readonly tokens = new Map<string, Token>();

  constructor(
    rootToken: string,
    private readonly appRoles: readonly AppRoleSpec[],
    private readonly now: () => number = Date.now,
  ) {
    this.tokens.set(rootToken, {
      accessor: randomUUID(),
      policies: ['root'],
      expiresAt: undefined,
      ttlSeconds: 0,
      renewable: false,
      allowed: () => true,
    });
  }

  /** The token a request carries, checked for `path` (the path after /v1/); Vault's 403 otherwise. */
  check(token: string | undefined, path: string): Token {
    const found = token === undefined ? undefined : this.tokens.get(token);
    if (!found || (found.expiresAt !== undefined && found.expiresAt <= this.now())) throw permissionDenied();
    // A token may always look itself up and renew itself, as Vault's default policy allows.
    if (!path.startsWith('auth/token/') && !found.allowed(path)) throw permissionDenied();
    return found;
  }

  login(roleId: unknown, secretId: unknown): { token: string; auth: Record<string, unknown> } {
    if (typeof roleId !== 'string' || roleId === '') throw badRequest('missing role_id');
    const role = this.appRoles.find((r) => r.roleId === roleId);
    if (!role) throw badRequest('invalid role ID');
    if (typeof secretId !== 'string' || secretId !== role.secretId) throw badRequest('invalid secret id');
    const ttlSeconds = role.tokenTtlSeconds ?? 3600;
    const token = `hvs.${randomBytes(18).toString('base64url')}`;
    const paths = role.paths;
    const allowed =
      paths === undefined
        ? () => true
        : (
            (regex: RegExp) => (p: string) =>
              regex.test(p)
          )(patternRegExp(paths, 's'));
    const entry: Token = {
      accessor: randomUUID(),
      policies: ['default', 'approle'],
      expiresAt: this.now() + ttlSeconds * 1000,
      ttlSeconds,
      renewable: true,
      allowed,
    };
    this.tokens.set(token, entry);
    return { token, auth: this.authOf(token, entry) };
  }

  renew(token: Token, tokenValue: string, increment: unknown): Record<string, unknown> {
    if (!token.renewable) throw badRequest('token is not renewable');
    const seconds =
      typeof increment === 'number' && increment > 0 ? Math.min(increment, token.ttlSeconds) : token.ttlSeconds;
    token.expiresAt = this.now() + seconds * 1000;
    return this.authOf(tokenValue, token);
  }

  lookup(token: Token): Record<string, unknown> {
    const ttl = token.expiresAt === undefined ? 0 : Math.max(0, Math.floor((token.expiresAt - this.now()) / 1000));
    return {
      accessor: token.accessor,
      policies: token.policies,
      ttl,
      renewable: token.renewable,
      expire_time: token.expiresAt === undefined ? null : new Date(token.expiresAt).toISOString(),
    };
  }

  private authOf(tokenValue: string, token: Token): Record<string, unknown> {
    const leaseDuration = token.expiresAt === undefined ? 0 : Math.round((token.expiresAt - this.now()) / 1000);
    return {
      client_token: tokenValue,
      accessor: token.accessor,
      policies: token.policies,
      lease_duration: leaseDuration,
      renewable: token.renewable,
    };
  }
}

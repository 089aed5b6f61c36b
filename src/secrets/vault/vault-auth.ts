import { VaultError } from './vault-error.js';

/** How the agent proves itself to Vault. */
export type VaultCredentials = { token: string } | { appRole: { roleId: string; secretId: string; mount?: string } };

/** A call to Vault without a token (login) or with one. */
export type RawCall = (method: string, path: string, body: unknown, token: string | undefined) => Promise<unknown>;

interface Held {
  token: string;
  /** Undefined: no expiry (a root or periodic token Vault reported with ttl 0). */
  expiresAt: number | undefined;
  ttlMs: number;
  renewable: boolean;
}

/**
 * The token the agent sends: CREDFLOW_VAULT_TOKEN (looked up once to learn its lifetime), or one
 * from an AppRole login. A renewable token is renewed (renew-self) once two thirds of its lifetime
 * have passed, on the next call; an AppRole token that cannot be renewed is replaced by a new login.
 * One login or renewal at a time, whatever the number of callers.
 */
export class VaultAuth {
  private held: Held | undefined;
  private pending: Promise<Held> | undefined;

  constructor(
    private readonly credentials: VaultCredentials,
    private readonly call: RawCall,
    private readonly now: () => number = Date.now,
    /** Told every token a login issues (the agent's masker learns it). */
    private readonly onToken: (token: string) => void = () => undefined,
  ) {}

  async token(): Promise<string> {
    const held = this.held;
    if (held && !this.due(held)) return held.token;
    this.pending ??= this.refresh(held).finally(() => (this.pending = undefined));
    this.held = await this.pending;
    return this.held.token;
  }

  /** Forget the token (Vault refused it): the next call logs in again (AppRole) or looks it up. */
  refused(): void {
    if ('appRole' in this.credentials) this.held = undefined;
  }

  private due(held: Held): boolean {
    return held.expiresAt !== undefined && this.now() >= held.expiresAt - held.ttlMs / 3;
  }

  private async refresh(held: Held | undefined): Promise<Held> {
    if (held?.renewable && held.expiresAt !== undefined && this.now() < held.expiresAt) {
      try {
        const answer = await this.call('POST', 'auth/token/renew-self', {}, held.token);
        return this.fromAuth(held.token, answer);
      } catch (error) {
        if (!('appRole' in this.credentials)) throw error;
      }
    }
    if ('appRole' in this.credentials) {
      const { roleId, secretId, mount = 'approle' } = this.credentials.appRole;
      const answer = await this.call(
        'POST',
        `auth/${mount}/login`,
        { role_id: roleId, secret_id: secretId },
        undefined,
      );
      const token = (answer as { auth?: { client_token?: unknown } }).auth?.client_token;
      if (typeof token !== 'string')
        throw new VaultError('VaultError', 'AppRole login: no client_token in the answer', 200);
      this.onToken(token);
      return this.fromAuth(token, answer);
    }
    if (held) return held;
    const { token } = this.credentials;
    const answer = (await this.call('GET', 'auth/token/lookup-self', undefined, token)) as {
      data?: { ttl?: unknown; renewable?: unknown };
    };
    const ttl = typeof answer.data?.ttl === 'number' ? answer.data.ttl : 0;
    return this.held_(token, ttl, answer.data?.renewable === true);
  }

  private fromAuth(token: string, answer: unknown): Held {
    const auth = (answer as { auth?: { lease_duration?: unknown; renewable?: unknown } }).auth;
    const ttl = typeof auth?.lease_duration === 'number' ? auth.lease_duration : 0;
    return this.held_(token, ttl, auth?.renewable === true);
  }

  private held_(token: string, ttlSeconds: number, renewable: boolean): Held {
    const ttlMs = ttlSeconds * 1000;
    return { token, ttlMs, renewable, expiresAt: ttlSeconds > 0 ? this.now() + ttlMs : undefined };
  }
}

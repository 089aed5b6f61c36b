import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { badRequest } from './vault-reply.js';

/** A role of the database secrets engine: what each lease's user may do, and for how long. */
export interface DatabaseRoleSpec {
  /** SQL run after CREATE ROLE, `{{name}}` standing for the new user's quoted name (e.g. GRANT SELECT ON widgets TO {{name}}). */
  grants: readonly string[];
  /** Lifetime of a lease and of each renewal (default 3600 s). */
  defaultTtlSeconds?: number;
  /** A lease never outlives this from its creation (default 24 h). */
  maxTtlSeconds?: number;
}

/** Where the engine creates users: a superuser connection to the database the users get access to. */
export interface DatabaseEngineOptions {
  admin: { host: string; port: number; user: string; password: string; database: string };
  roles: Readonly<Record<string, DatabaseRoleSpec>>;
}

interface DbLease {
  user: string;
  expiresAt: number;
  maxExpiresAt: number;
  ttlSeconds: number;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const validUntil = (ms: number) => `'${new Date(ms).toISOString()}'`;

/**
 * Vault's database secrets engine, for PostgreSQL: each `database/creds/<role>` read creates a real
 * user with a random password and VALID UNTIL its lease's end; renewing moves VALID UNTIL, revoking
 * (or the lease running out) ends its sessions and drops it.
 */
export class DatabaseEngine {
  private readonly leases = new Map<string, DbLease>();
  // One admin statement batch at a time: concurrent GRANT/REVOKE on the same database row fail
  // in PostgreSQL with "tuple concurrently updated".
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: DatabaseEngineOptions,
    private readonly onValueStored: (value: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The users of leases not yet revoked or expired, by lease id (for tests). */
  get activeUsers(): Map<string, string> {
    return new Map([...this.leases].map(([id, lease]) => [id, lease.user]));
  }

  async creds(roleName: string): Promise<Record<string, unknown>> {
    const role = Object.hasOwn(this.options.roles, roleName) ? this.options.roles[roleName] : undefined;
    if (!role) throw badRequest(`unknown role: ${roleName}`);
    const ttlSeconds = role.defaultTtlSeconds ?? 3600;
    const created = this.now();
    const user = `v-${roleName.slice(0, 20)}-${randomBytes(6).toString('hex')}`;
    const password = `A1a-${randomBytes(15).toString('base64url')}`;
    this.onValueStored(password);
    const lease: DbLease = {
      user,
      expiresAt: created + ttlSeconds * 1000,
      maxExpiresAt: created + (role.maxTtlSeconds ?? 86_400) * 1000,
      ttlSeconds,
    };
    await this.admin(async (client) => {
      await client.query(
        `CREATE ROLE ${quoteIdent(user)} LOGIN PASSWORD '${password}' VALID UNTIL ${validUntil(lease.expiresAt)}`,
      );
      for (const grant of role.grants) await client.query(grant.replaceAll('{{name}}', quoteIdent(user)));
    });
    const leaseId = `database/creds/${roleName}/${randomBytes(12).toString('base64url')}`;
    this.leases.set(leaseId, lease);
    return { lease_id: leaseId, renewable: true, lease_duration: ttlSeconds, data: { username: user, password } };
  }

  owns(leaseId: string): boolean {
    return this.leases.has(leaseId);
  }

  async renew(leaseId: string, increment: unknown): Promise<Record<string, unknown>> {
    const lease = this.leases.get(leaseId);
    if (!lease || lease.expiresAt <= this.now()) throw badRequest('lease not found or lease is not renewable');
    const seconds = typeof increment === 'number' && increment > 0 ? increment : lease.ttlSeconds;
    lease.expiresAt = Math.min(lease.maxExpiresAt, this.now() + seconds * 1000);
    await this.admin((client) =>
      client.query(`ALTER ROLE ${quoteIdent(lease.user)} VALID UNTIL ${validUntil(lease.expiresAt)}`),
    );
    const leaseDuration = Math.max(0, Math.round((lease.expiresAt - this.now()) / 1000));
    return { lease_id: leaseId, renewable: true, lease_duration: leaseDuration, data: null };
  }

  /** Ends the lease's user; an unknown lease is no error (Vault's revoke is idempotent). */
  async revoke(leaseId: string): Promise<void> {
    const lease = this.leases.get(leaseId);
    if (!lease) return;
    // Forgotten only once dropped: a failed revoke is tried again by the sweep, or a later revoke.
    await this.dropUser(lease.user);
    this.leases.delete(leaseId);
  }

  /** Drops the users of leases that ran out. */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const [id, lease] of [...this.leases])
      if (lease.expiresAt <= now) await this.revoke(id).catch(() => undefined);
  }

  /** Drops every user still leased (the endpoint is closing). */
  async revokeAll(): Promise<void> {
    for (const id of [...this.leases.keys()]) await this.revoke(id).catch(() => undefined);
  }

  private async dropUser(user: string): Promise<void> {
    await this.admin(async (client) => {
      // Two revokes of one lease may cross: the second finds nothing to drop.
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user]);
      if (exists.rowCount === 0) return;
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [user]);
      // Its grants go first (in this database and on shared objects such as the database itself).
      await client.query(`DROP OWNED BY ${quoteIdent(user)}`);
      await client.query(`DROP ROLE IF EXISTS ${quoteIdent(user)}`);
    });
  }

  private admin<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.connected(use));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async connected<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
    const { admin } = this.options;
    const client = new pg.Client({ ...admin, application_name: 'credflow-local-vault' });
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.end();
    }
  }
}

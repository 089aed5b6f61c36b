import type { Logger } from 'pino';
import type { VaultClient } from './vault-client.js';

/** A lease a workflow run obtained from Vault (`vault.read` of `database/creds/<role>`, ...). */
export interface VaultLease {
  id: string;
  /** Seconds, as Vault answered. */
  duration: number;
  renewable: boolean;
}

export interface LeaseKeeperOptions {
  vault: VaultClient;
  logger: Logger;
  /** Whether a pool built on the credentials of `connectionKey` is still open (current or draining). */
  inUse: (connectionKey: string) => boolean;
  now?: () => number;
}

interface Kept {
  lease: VaultLease;
  expiresAt: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The agent's Vault leases, by the connection key of the credentials they brought: renews each
 * (sys/leases/renew) at half its remaining life while a pool on those credentials is open, and
 * revokes them (sys/leases/revoke) when the last such pool has ended. Leases of runs whose response
 * was not kept are revoked at once. A lease no pool ever used is left to expire in Vault, like the
 * cache entry that holds it (its lifetime is the lease's).
 */
export class LeaseKeeper {
  private readonly byKey = new Map<string, Kept[]>();
  private readonly revoking = new Set<Promise<void>>();
  // Revoked lease ids (the most recent ones): a cached response used again after its pools ended
  // (a reload drains pools but may keep the entry) must not bind its revoked leases anew.
  private readonly revoked = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly options: LeaseKeeperOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Ties `leases` to the credentials `connectionKey` (the first call for a key wins: one run made them). */
  bind(connectionKey: string, leases: readonly VaultLease[]): void {
    if (leases.length === 0 || this.byKey.has(connectionKey)) return;
    if (leases.some((lease) => this.revoked.has(lease.id))) return;
    const kept = leases.map((lease) => ({ lease, expiresAt: this.now() + lease.duration * 1000, timer: undefined }));
    this.byKey.set(connectionKey, kept);
    for (const k of kept) this.schedule(connectionKey, k);
  }

  /** A pool on `connectionKey` ended and no other is open: its leases go. */
  poolEnded(connectionKey: string): void {
    const kept = this.byKey.get(connectionKey);
    if (!kept) return;
    this.byKey.delete(connectionKey);
    for (const k of kept) {
      clearTimeout(k.timer);
      this.revoke(k.lease.id, 'pool ended');
    }
  }

  /** Leases nothing will use (a failed run, a preview): revoked now. */
  discard(leases: readonly VaultLease[]): void {
    for (const lease of leases) this.revoke(lease.id, 'unused');
  }

  /** Leases bound now (for the status of tests and operators): lease ids by connection key. */
  bound(): Map<string, string[]> {
    return new Map([...this.byKey].map(([key, kept]) => [key, kept.map((k) => k.lease.id)]));
  }

  /** Stops renewing and waits for the revocations under way. */
  async close(): Promise<void> {
    for (const kept of this.byKey.values()) for (const k of kept) clearTimeout(k.timer);
    await Promise.all([...this.revoking]);
  }

  private schedule(connectionKey: string, kept: Kept): void {
    if (!kept.lease.renewable) return;
    const delay = Math.max(250, (kept.expiresAt - this.now()) / 2);
    kept.timer = setTimeout(() => void this.renew(connectionKey, kept), delay);
    kept.timer.unref();
  }

  private async renew(connectionKey: string, kept: Kept): Promise<void> {
    if (this.byKey.get(connectionKey)?.includes(kept) !== true) return;
    if (this.now() >= kept.expiresAt) return;
    if (this.options.inUse(connectionKey)) {
      try {
        const answer = await this.options.vault.renewLease(kept.lease.id, kept.lease.duration);
        kept.expiresAt = this.now() + answer.lease_duration * 1000;
        this.options.logger.debug(
          { event: 'vault.lease_renew', leaseDuration: answer.lease_duration },
          'renewed a Vault lease',
        );
        if (!answer.renewable || answer.lease_duration <= 0) return;
      } catch (error) {
        this.options.logger.warn(
          { event: 'vault.lease_renew', outcome: (error as Error).name, error: (error as Error).message },
          'could not renew a Vault lease',
        );
      }
    }
    if (this.byKey.get(connectionKey)?.includes(kept) === true) this.schedule(connectionKey, kept);
  }

  private revoke(leaseId: string, why: string): void {
    this.revoked.add(leaseId);
    if (this.revoked.size > 10_000) this.revoked.delete(this.revoked.values().next().value as string);
    const done: Promise<void> = this.options.vault
      .revokeLease(leaseId)
      .then(
        () => this.options.logger.info({ event: 'vault.lease_revoke', reason: why }, 'revoked a Vault lease'),
        (error: unknown) =>
          this.options.logger.warn(
            {
              event: 'vault.lease_revoke',
              reason: why,
              outcome: (error as Error).name,
              error: (error as Error).message,
            },
            'could not revoke a Vault lease',
          ),
      )
      .finally(() => this.revoking.delete(done));
    this.revoking.add(done);
  }
}

import type { Actor } from '../access/index.js';
import type { Integration, ResolvedConnection } from '../config/index.js';
import type { CacheOutcome } from './credential-cache.js';
import type { IntegrationStatus } from './integration-status.js';
import type { CancelHook } from './rotation-waits.js';

export interface Resolved {
  integration: string;
  profile: string;
  connection: ResolvedConnection;
  /** A hash of the connection: equal keys mean equal credentials. */
  connectionKey: string;
  /** The cache generation the connection came from (0 for integrations without a workflow). */
  generation: number;
  outcome: CacheOutcome | 'static';
}

export interface AuthFailureOptions {
  /** When the refused attempt started (ms since the epoch): a load that began earlier may predate the change. */
  attemptStartedAt: number;
  /** Until when the caller may wait for new credentials (ms since the epoch); not later than now: no wait. */
  waitUntil: number;
  cancelled?: CancelHook | undefined;
}

/**
 * Credentials to try (`retry`: other ones, or after a wait the refused ones once more, since the
 * database may have caught up), or `refused`: the store returns the refused ones (`unchanged`: they
 * never worked, so no wait), or still did when the wait ended (`timeout`, `cancelled`). `fetches`:
 * loads this call made or waited for; `waited`: whether it waited for a rotation.
 */
export type AuthFailureOutcome =
  | { retry: Resolved; fetches: number; waited: boolean }
  | { refused: 'unchanged' | 'timeout' | 'cancelled'; fetches: number; waited: boolean };

/** Turns an integration (and a profile) into the connection to open, and keeps what it fetched. */
export interface Resolver {
  /** The profile a request means: the one given, else the configured default; checked against the integration's profiles. */
  profileFor(integration: Integration, profile: string | undefined): string;
  /** `actor` (who asked) goes into the resolution's log line. */
  resolve(integration: Integration, profile?: string, actor?: Actor): Promise<Resolved>;
  /**
   * The same resolution without waiting, when no load is needed (a cached response that has not
   * expired, or an integration without a workflow), with its metric and log line; undefined when
   * resolve() must run. Throws what resolve() would for an unknown profile.
   */
  resolveCached(integration: Integration, profile?: string, actor?: Actor): Resolved | undefined;
  /**
   * After the database refused `failed`: the credentials to try next, or why there are none. Loads
   * them again (once for all callers whose attempts started before that load did, and no sooner than
   * 250 ms after the key's last load); when the store still returns the refused ones and credentials
   * of this key worked before (a rotation window), waits until it returns others or the refused
   * ones work again, until `waitUntil`, or until `cancelled`.
   */
  afterAuthFailure(
    integration: Integration,
    failed: Resolved,
    options: AuthFailureOptions,
  ): Promise<AuthFailureOutcome>;
  /** Records that a query succeeded with `resolved` (so a later refusal of its key may be a rotation). */
  succeeded(integration: Integration, resolved: Resolved): void;
  /** Drops the cached responses of an integration (every profile); returns how many were dropped. */
  invalidate(integration: Integration): number;
  status(integration: Integration, profile?: string): IntegrationStatus;
}

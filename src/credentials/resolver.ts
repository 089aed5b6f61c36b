import type { Actor } from '../access/index.js';
import type { Integration, ResolvedConnection } from '../config/index.js';
import type { CacheOutcome } from './credential-cache.js';
import type { IntegrationStatus } from './integration-status.js';

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
   * After the database refused `failed` in an attempt that started at `attemptStartedAt`: load the
   * credentials again, once for all callers whose attempts started before that load did.
   */
  reloadAfterAuthFailure(integration: Integration, failed: Resolved, attemptStartedAt?: number): Promise<Resolved>;
  /** Drops the cached responses of an integration (every profile); returns how many were dropped. */
  invalidate(integration: Integration): number;
  status(integration: Integration, profile?: string): IntegrationStatus;
}

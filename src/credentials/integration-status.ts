import type { Integration } from '../config/index.js';
import type { SecretMasker } from '../masking/index.js';
import type { CacheKey } from './cache-key.js';
import type { SlotStatus } from './credential-cache.js';

export interface IntegrationStatus {
  integration: string;
  profile: string;
  workflow: string | undefined;
  cached: boolean;
  refreshing: boolean;
  fetchedAt: string | undefined;
  ageSeconds: number | undefined;
  expiresAt: string | undefined;
  staleUntil: string | undefined;
  lastRefreshError: { message: string; at: string } | undefined;
  failingSince: string | undefined;
  /** Since when queries wait for the secret store to return credentials other than ones the database refused. */
  rotationPendingSince: string | undefined;
}

export interface StatusSource {
  integration: Integration;
  profile: string;
  /** Undefined for an integration without a workflow. */
  key: CacheKey | undefined;
  slot: SlotStatus<unknown> | undefined;
  rotationPendingSince: number | undefined;
  now: number;
  /** The last refresh error is a store's message: it may quote a secret. */
  masker: SecretMasker;
}

/** What the agent knows of an integration's cached credentials, times as ISO strings. */
export function integrationStatus(source: StatusSource): IntegrationStatus {
  const { integration, profile, key, slot, now, masker } = source;
  const entry = slot?.entry;
  return {
    integration: integration.name,
    profile,
    workflow: key?.workflow,
    cached: entry !== undefined,
    refreshing: slot?.refreshing ?? false,
    fetchedAt: iso(entry?.fetchedAt),
    ageSeconds: entry ? Math.round((now - entry.fetchedAt) / 100) / 10 : undefined,
    expiresAt: iso(entry?.expiresAt),
    staleUntil: iso(entry?.staleUntil),
    lastRefreshError: slot?.lastError
      ? { message: masker.mask(slot.lastError.message), at: new Date(slot.lastError.at).toISOString() }
      : undefined,
    failingSince: iso(slot?.failingSince),
    rotationPendingSince: iso(source.rotationPendingSince),
  };
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

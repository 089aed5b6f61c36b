// Over 250 lines: one self-contained class whose load, peek, reload and eviction share the slot state.
import { CredflowError, messageOf } from '../errors.js';
import type { VaultLease } from '../secrets/index.js';

/** One cached workflow response. `generation` grows with every successful load of its key. */
export interface CacheEntry<T> {
  readonly value: T;
  readonly generation: number;
  /** When the load that produced it started (it read the store no earlier than this). */
  readonly loadStartedAt: number;
  readonly fetchedAt: number;
  readonly expiresAt: number;
  /** Until when the value may still be served while refreshing fails. */
  readonly staleUntil: number;
  /** The jittered moment after which a use starts a background refresh. */
  readonly refreshAt: number;
  /** The Vault leases the load obtained (the agent renews them while pools on this value are open). */
  readonly leases: readonly VaultLease[];
}

export interface Loaded<T> {
  value: T;
  /** How long the value may be used; 0 or less: do not keep it. */
  ttlMs: number;
  /** How long past expiry it may be served while refreshing fails (default: the cache's maxStaleMs). */
  maxStaleMs?: number;
  leases?: readonly VaultLease[];
}

export type Loader<T> = () => Promise<Loaded<T>>;

/** How a value was obtained: from the cache, by loading it, or past its expiry because refreshing failed. */
export type CacheOutcome = 'hit' | 'miss' | 'refresh' | 'stale';

export type CacheEvent =
  | { type: 'refresh-start'; key: string; background: boolean }
  | { type: 'refresh-ok'; key: string; background: boolean }
  | { type: 'refresh-error'; key: string; background: boolean; error: unknown; failingSince: number }
  | { type: 'evict'; key: string };

export interface CacheOptions {
  maxEntries: number;
  /** How long past expiry the last good value may be served while refreshing fails, unless a load says otherwise. */
  maxStaleMs: number;
  /** Background refresh starts at a random point in [from, to] of the TTL. */
  refreshWindow?: readonly [number, number];
  /** How long a request waits for the refresh of an expired (but not yet too stale) value before it is served stale. */
  maxRefreshWaitMs?: number;
  /** After a failed refresh, wait this long (doubling, capped) before trying again. */
  retryBackoffMs?: readonly [number, number];
  now?: () => number;
  random?: () => number;
  onEvent?: (event: CacheEvent) => void;
}

export interface SlotStatus<T> {
  entry: CacheEntry<T> | undefined;
  refreshing: boolean;
  lastError: { message: string; at: number } | undefined;
  failingSince: number | undefined;
}

interface Slot<T> {
  entry?: CacheEntry<T>;
  inflight?: Promise<CacheEntry<T>>;
  inflightStartedAt?: number;
  lastError?: { message: string; at: number };
  lastFailure?: unknown;
  failingSince?: number;
  failures: number;
  nextAttemptAt: number;
}

/**
 * Cached values with single-flight loading, jittered refresh ahead of expiry, stale-if-error up to
 * a bound, and LRU eviction. Concurrent requests for a key share one load and its outcome.
 */
export class CredentialCache<T> {
  private readonly slots = new Map<string, Slot<T>>();
  private readonly now: () => number;
  private readonly random: () => number;
  private generations = 0;
  private lastTouched: string | undefined;

  constructor(private readonly options: CacheOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * The value for `key` when it is cached and not expired (a hit), without waiting: the same as a
   * hit of get(), including the background refresh it may start. Undefined otherwise; get() then
   * loads or serves stale.
   */
  peek(key: string, load: Loader<T>): CacheEntry<T> | undefined {
    const slot = this.slots.get(key);
    const entry = slot?.entry;
    if (slot === undefined || entry === undefined) return undefined;
    const now = this.now();
    if (now >= entry.expiresAt) return undefined;
    this.touch(key);
    if (now >= entry.refreshAt && !slot.inflight && now >= slot.nextAttemptAt) {
      this.load(key, slot, load, true).catch(() => undefined);
    }
    return entry;
  }

  /** The value for `key`, loading it when missing or expired; see CacheOutcome. */
  async get(key: string, load: Loader<T>): Promise<{ entry: CacheEntry<T>; outcome: CacheOutcome }> {
    const hit = this.peek(key, load);
    if (hit) return { entry: hit, outcome: 'hit' };
    const slot = this.touch(key);
    const now = this.now();
    const entry = slot.entry;
    if (entry && now < entry.staleUntil) {
      // Expired but within the stale bound: wait a little for a refresh (the value may really have
      // expired), then serve the last good value, so a slow or failing store never holds requests
      // for long. The refresh goes on in the background.
      if (!slot.inflight && now < slot.nextAttemptAt) return { entry, outcome: 'stale' };
      const refreshing = slot.inflight ?? this.load(key, slot, load, false);
      const waited = await Promise.race([
        refreshing.then(
          (fresh) => ({ fresh }),
          () => undefined,
        ),
        new Promise<undefined>((resolve) =>
          setTimeout(() => resolve(undefined), this.options.maxRefreshWaitMs ?? 1000).unref(),
        ),
      ]);
      return waited ? { entry: waited.fresh, outcome: 'refresh' } : { entry, outcome: 'stale' };
    }
    const unavailable = (error: unknown, last: CacheEntry<T>) => {
      const since = new Date(slot.failingSince ?? now).toISOString();
      return new CredflowError(
        'CREDENTIALS_UNAVAILABLE',
        `credentials could not be refreshed since ${since}, and the last good value may only be used until ${new Date(last.staleUntil).toISOString()}: ${messageOf(error)}`,
        { details: { failingSince: since }, cause: error },
      );
    };
    if (!slot.inflight && now < slot.nextAttemptAt && slot.lastFailure !== undefined) {
      // A key that just failed fails fast until its next attempt, so callers do not pile up.
      throw entry ? unavailable(slot.lastFailure, entry) : slot.lastFailure;
    }
    try {
      return { entry: await (slot.inflight ?? this.load(key, slot, load, false)), outcome: entry ? 'refresh' : 'miss' };
    } catch (error) {
      throw entry ? unavailable(error, entry) : error;
    }
  }

  /**
   * Loads `key` again after `staleGeneration` was found bad. A newer entry, or a load in flight, is
   * used instead when it started reading the store no earlier than `notBefore` (when the caller
   * began the attempt that failed), so concurrent callers that saw the same failing value share one
   * load, and nobody is answered by a load that may have read the store before the change.
   */
  async reload(key: string, staleGeneration: number, load: Loader<T>, notBefore?: number): Promise<CacheEntry<T>>;
  /** The same, but without starting a load (`load` undefined): undefined when one would be needed. */
  async reload(
    key: string,
    staleGeneration: number,
    load: Loader<T> | undefined,
    notBefore?: number,
  ): Promise<CacheEntry<T> | undefined>;
  async reload(
    key: string,
    staleGeneration: number,
    load: Loader<T> | undefined,
    notBefore = -Infinity,
  ): Promise<CacheEntry<T> | undefined> {
    const slot = this.touch(key);
    for (;;) {
      if (slot.entry && slot.entry.generation > staleGeneration && slot.entry.loadStartedAt >= notBefore)
        return slot.entry;
      if (!slot.inflight) return load ? this.load(key, slot, load, false) : undefined;
      if ((slot.inflightStartedAt ?? -Infinity) >= notBefore) return slot.inflight;
      // A load that started too early: let it finish, then look again.
      await slot.inflight.catch(() => undefined);
    }
  }

  invalidate(key: string): boolean {
    return this.slots.delete(key);
  }

  status(key: string): SlotStatus<T> {
    const slot = this.slots.get(key);
    return {
      entry: slot?.entry,
      refreshing: slot?.inflight !== undefined,
      lastError: slot?.lastError,
      failingSince: slot?.failingSince,
    };
  }

  private touch(key: string): Slot<T> {
    let slot = this.slots.get(key);
    // The most recently used key stays where it is (the common case of one busy integration).
    if (slot && key === this.lastTouched) return slot;
    this.lastTouched = key;
    if (slot) {
      // Map order is insertion order: re-inserting marks the key as most recently used.
      this.slots.delete(key);
    } else {
      slot = { failures: 0, nextAttemptAt: 0 };
    }
    this.slots.set(key, slot);
    while (this.slots.size > this.options.maxEntries) {
      const oldest = this.slots.keys().next().value as string;
      this.slots.delete(oldest);
      this.options.onEvent?.({ type: 'evict', key: oldest });
    }
    return slot;
  }

  private load(key: string, slot: Slot<T>, load: Loader<T>, background: boolean): Promise<CacheEntry<T>> {
    this.options.onEvent?.({ type: 'refresh-start', key, background });
    const loadStartedAt = this.now();
    // Numbered when it starts: a slow load that read the store earlier never outranks a later one.
    const generation = ++this.generations;
    const run = (async () => {
      try {
        const loaded = await load();
        const fetchedAt = this.now();
        const ttl = Math.max(0, loaded.ttlMs);
        const [from, to] = this.options.refreshWindow ?? [0.75, 0.9];
        const entry: CacheEntry<T> = {
          value: loaded.value,
          generation,
          loadStartedAt,
          fetchedAt,
          expiresAt: fetchedAt + ttl,
          staleUntil: fetchedAt + ttl + (loaded.maxStaleMs ?? this.options.maxStaleMs),
          refreshAt: fetchedAt + ttl * (from + (to - from) * this.random()),
          leases: loaded.leases ?? [],
        };
        // A value with no lifetime serves this request (and those sharing it) only, and replaces
        // whatever was kept before.
        if (this.slots.get(key) === slot && (slot.entry === undefined || slot.entry.generation < generation)) {
          slot.entry = ttl > 0 ? entry : undefined;
        }
        slot.failures = 0;
        slot.nextAttemptAt = 0;
        slot.failingSince = undefined;
        slot.lastError = undefined;
        slot.lastFailure = undefined;
        this.options.onEvent?.({ type: 'refresh-ok', key, background });
        return entry;
      } catch (error) {
        // The sandbox had no room for the run: the store did not fail, and the next get tries again.
        if (isCapacityRefusal(error)) throw error;
        const now = this.now();
        const [base, cap] = this.options.retryBackoffMs ?? [1000, 30_000];
        slot.failures += 1;
        slot.nextAttemptAt = now + Math.min(cap, base * 2 ** (slot.failures - 1));
        slot.failingSince ??= now;
        slot.lastError = { message: messageOf(error), at: now };
        slot.lastFailure = error;
        this.options.onEvent?.({ type: 'refresh-error', key, background, error, failingSince: slot.failingSince });
        throw error;
      } finally {
        slot.inflight = undefined;
        slot.inflightStartedAt = undefined;
      }
    })();
    slot.inflight = run;
    slot.inflightStartedAt = loadStartedAt;
    return run;
  }
}

/**
 * A run the sandbox refused (its queue was full) or could not start before its deadline (it waited
 * in the queue): a matter of the agent's load, not of the store, so it starts no retry backoff.
 */
function isCapacityRefusal(error: unknown): boolean {
  return (
    error instanceof CredflowError &&
    (error.code === 'SANDBOX_BUSY' || (error.code === 'WORKFLOW_TIMEOUT' && error.details?.queued === true))
  );
}

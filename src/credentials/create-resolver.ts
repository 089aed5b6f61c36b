import type { Logger } from 'pino';
import { localActor, type Actor } from '../access/index.js';
import type { AgentSettings, Integration, LoadedConfig } from '../config/index.js';
import { CredflowError } from '../errors.js';
import { directLines, type LineSink } from '../logging/index.js';
import type { SecretMasker } from '../masking/index.js';
import type { Metrics } from '../metrics/index.js';
import type { VaultLease } from '../secrets/index.js';
import type { WorkflowRunner } from '../workflows/index.js';
import { CacheKey } from './cache-key.js';
import { ConnectionRenderer, type Rendered } from './connection-renderer.js';
import { CredentialCache, type CacheEntry, type CacheOutcome, type Loader } from './credential-cache.js';
import { integrationStatus } from './integration-status.js';
import { cachedProfilesOf, createProfileFor } from './profile-for.js';
import { ResolutionReport, type ResolutionAttempt } from './resolution-report.js';
import type { Resolved, Resolver } from './resolver.js';
import { RotationWaits } from './rotation-waits.js';
import { WorkflowLoader } from './workflow-loader.js';

export interface ResolverDeps {
  config: LoadedConfig;
  settings: Pick<AgentSettings, 'cache' | 'defaultProfile' | 'profiles'>;
  runner: WorkflowRunner;
  appEnv: Record<string, string>;
  masker: SecretMasker;
  logger: Logger;
  /** Where the one line per resolution goes (the agent defers it off the request path); default `logger`. */
  lines?: LineSink;
  metrics: Metrics;
  now?: () => number;
  /** Told which connection a cached response's Vault leases belong to, each time one is used. */
  bindLeases?: (connectionKey: string, leases: readonly VaultLease[]) => void;
}

/** A key with the loader of its response. */
interface Keyed {
  key: CacheKey;
  load: Loader<unknown>;
}

/**
 * Resolves integrations to connections: runs (or reuses) the workflow response per cache key,
 * renders the templates once per cached response and integration, and validates the result. One
 * structured log line per resolution. This module wires the parts and holds the one resolution path.
 */
export function createResolver(deps: ResolverDeps): Resolver {
  const { config, masker, settings } = deps;
  const now = deps.now ?? Date.now;
  const profileFor = createProfileFor(settings);
  const report = new ResolutionReport({
    logger: deps.logger,
    lines: deps.lines ?? directLines(deps.logger),
    metrics: deps.metrics,
    masker,
  });
  const loader = new WorkflowLoader({ runner: deps.runner, masker, integrations: config.integrations.values(), now });
  const renderer = new ConnectionRenderer({ appEnv: deps.appEnv, masker });
  // Every key made, by its id: the cache's events name a key by its id only.
  const keysById = new Map<string, CacheKey>();
  const cache = new CredentialCache<unknown>({
    maxEntries: settings.cache.maxEntries,
    maxStaleMs: settings.cache.maxStaleSeconds * 1000,
    now,
    onEvent: (event) => {
      report.cacheEvent(event, keysById.get(event.key));
      // Every load counts for the spacing of the loads auth failures make.
      if (event.type === 'refresh-start') rotation.loadStarting(event.key);
      // The secrets an evicted entry brought may be forgotten by the masker once it needs room.
      if (event.type === 'evict') masker.release(event.key);
    },
  });

  const rotation = new RotationWaits<Resolved>({
    now,
    onFetch: (id, fetched) =>
      deps.metrics.rotationRefetches.inc({ integration: keysById.get(id)?.integration ?? '', result: fetched }),
    onWait: (id, event) => report.rotationWait(keysById.get(id), event),
  });

  // The configuration never changes while the agent runs: each (integration, profile) gets its key
  // and loader once, off the hot path. Undefined: the integration has no workflow.
  const keyed = new WeakMap<Integration, Map<string, Keyed | undefined>>();
  const keyFor = (integration: Integration, profile: string): Keyed | undefined => {
    let byProfile = keyed.get(integration);
    if (byProfile === undefined) keyed.set(integration, (byProfile = new Map()));
    const found = byProfile.get(profile);
    if (found !== undefined || byProfile.has(profile)) return found;
    const made = makeKey(integration, profile);
    byProfile.set(profile, made);
    if (made) keysById.set(made.key.id, made.key);
    return made;
  };
  const makeKey = (integration: Integration, profile: string): Keyed | undefined => {
    const dynamic = integration.fetchCredentialsDynamically;
    if (!dynamic?.enabled) return undefined;
    const workflow = config.workflows.get(dynamic.workflow);
    if (!workflow)
      throw new CredflowError(
        'WORKFLOW_NOT_FOUND',
        `integration "${integration.name}": workflow "${dynamic.workflow}" does not exist`,
      );
    const key = CacheKey.of(integration, profile, workflow, settings.cache);
    return { key, load: loader.loaderFor(key, workflow) };
  };

  const result = (
    integration: Integration,
    profile: string,
    rendered: Rendered,
    generation: number,
    outcome: Resolved['outcome'],
  ): Resolved => {
    const { connection, connectionKey } = rendered;
    return { integration: integration.name, profile, connection, connectionKey, generation, outcome };
  };
  // The connection of a cached response; its Vault leases are tied to that connection's pools.
  const render = (integration: Integration, entry: CacheEntry<unknown>, key: CacheKey): Rendered => {
    const rendered = renderer.fromEntry(integration, entry, key);
    if (entry.leases.length > 0) deps.bindLeases?.(rendered.connectionKey, entry.leases);
    return rendered;
  };
  const fromEntry = (
    attempt: ResolutionAttempt,
    keyedAs: Keyed,
    entry: CacheEntry<unknown>,
    outcome: CacheOutcome,
  ): Resolved => {
    const rendered = render(attempt.integration, entry, keyedAs.key);
    return result(attempt.integration, attempt.profile, rendered, entry.generation, outcome);
  };

  const begin = (integration: Integration, requested: string | undefined, actor: Actor): ResolutionAttempt => {
    const started = performance.now();
    return { integration, profile: profileFor(integration, requested), actor, started };
  };
  const failed = (attempt: ResolutionAttempt, error: unknown): never => {
    report.failed(attempt, error);
    throw error;
  };
  /**
   * The one resolution path, up to where it would wait: a connection without a workflow, or a cached
   * response that has not expired, is resolved (with its metric and line); else the key to load.
   */
  const settle = (attempt: ResolutionAttempt): Resolved | Keyed => {
    const { integration, profile } = attempt;
    try {
      const keyedAs = keyFor(integration, profile);
      if (!keyedAs)
        return report.resolved(attempt, result(integration, profile, renderer.fixed(integration), 0, 'static'));
      const entry = cache.peek(keyedAs.key.id, keyedAs.load);
      if (entry === undefined) return keyedAs;
      return report.resolved(attempt, fromEntry(attempt, keyedAs, entry, 'hit'));
    } catch (error) {
      return failed(attempt, error);
    }
  };
  const isKeyed = (settled: Resolved | Keyed): settled is Keyed => 'load' in settled;

  return {
    profileFor,
    resolveCached(integration, profile, actor = localActor) {
      const settled = settle(begin(integration, profile, actor));
      return isKeyed(settled) ? undefined : settled;
    },
    /** The path of resolveCached, then, when it found nothing at hand, a load or a stale value. */
    async resolve(integration, profile, actor = localActor) {
      const attempt = begin(integration, profile, actor);
      const settled = settle(attempt);
      if (!isKeyed(settled)) return settled;
      try {
        const { entry, outcome } = await cache.get(settled.key.id, settled.load);
        return report.resolved(attempt, fromEntry(attempt, settled, entry, outcome));
      } catch (error) {
        return failed(attempt, error);
      }
    },
    async afterAuthFailure(integration, failed, options) {
      const keyedAs = keyFor(integration, failed.profile);
      if (!keyedAs) return { refused: 'unchanged', fetches: 0, waited: false };
      const { id } = keyedAs.key;
      const resolvedOf = (entry: CacheEntry<unknown>): Resolved =>
        result(integration, failed.profile, render(integration, entry, keyedAs.key), entry.generation, 'refresh');
      let fetches = 0;
      // Refused what a wait in progress was refused: join it rather than load.
      if (!rotation.isWaitingOut(id, failed.connectionKey)) {
        // Loads for repeated refusals of the same credentials are spaced (see RotationWaits); a
        // load under way, or one that began since this attempt did, is shared.
        const mayLoad = rotation.mayLoad(id, failed.connectionKey);
        const entry = await cache.reload(
          id,
          failed.generation,
          mayLoad ? keyedAs.load : undefined,
          options.attemptStartedAt,
        );
        if (entry) {
          fetches += 1;
          const fresh = resolvedOf(entry);
          const changed = fresh.connectionKey !== failed.connectionKey;
          if (mayLoad) rotation.loadFound(id, changed);
          if (changed) return { retry: fresh, fetches, waited: false };
        } else {
          // No load now: the store was asked moments ago. What it answered is in the cache.
          const current = cache.status(id).entry;
          if (current && current.generation > failed.generation) {
            const fresh = resolvedOf(current);
            if (fresh.connectionKey !== failed.connectionKey) return { retry: fresh, fetches, waited: false };
          }
        }
      }
      // Nothing ever worked with this key (a wrong secret, not a rotation): fail fast.
      if (!rotation.hasWorked(id)) return { refused: 'unchanged', fetches, waited: false };
      // A rotation, but no time left to wait for it.
      if (options.waitUntil <= now()) return { refused: 'timeout', fetches, waited: true };
      const end = await rotation.wait(id, {
        refused: failed.connectionKey,
        until: options.waitUntil,
        cancelled: options.cancelled,
        current: () => {
          const entry = cache.status(id).entry;
          return entry ? resolvedOf(entry) : undefined;
        },
        fetch: async (notBefore) => resolvedOf(await cache.reload(id, -1, keyedAs.load, notBefore)),
      });
      fetches += end.fetches;
      return end.outcome === 'rotated' || end.outcome === 'probe'
        ? { retry: end.resolved, fetches, waited: true }
        : { refused: end.outcome, fetches, waited: true };
    },
    succeeded(integration, resolved) {
      if (resolved.outcome === 'static') return;
      const keyedAs = keyFor(integration, resolved.profile);
      if (keyedAs) rotation.worked(keyedAs.key.id, resolved);
    },
    invalidate(integration) {
      renderer.forget(integration);
      if (!integration.fetchCredentialsDynamically?.enabled) return 0;
      let dropped = 0;
      for (const profile of cachedProfilesOf(integration, settings)) {
        const keyedAs = keyFor(integration, profile);
        if (keyedAs && cache.invalidate(keyedAs.key.id)) {
          masker.release(keyedAs.key.id);
          dropped += 1;
        }
      }
      return dropped;
    },
    status(integration, requested) {
      const profile = profileFor(integration, requested);
      const key = keyFor(integration, profile)?.key;
      const slot = key ? cache.status(key.id) : undefined;
      const rotationPendingSince = key ? rotation.pendingSince(key.id) : undefined;
      return integrationStatus({ integration, profile, key, slot, rotationPendingSince, now: now(), masker });
    },
  };
}

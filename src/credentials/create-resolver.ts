import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { localActor, type Actor } from '../access/index.js';
import { directLines, type LineSink } from '../logging/index.js';
import type { AgentSettings, Integration, LoadedConfig } from '../config/index.js';
import { CredflowError } from '../errors.js';
import { SecretMasker } from '../masking/index.js';
import type { Metrics } from '../metrics/index.js';
import type { WorkflowRunner } from '../workflows/index.js';
import { CredentialCache, type CacheEntry, type CacheOutcome, type Loader } from './credential-cache.js';
import { neededPathsByWorkflow, pruneResponse } from './prune-response.js';
import { renderConnection, stageOf } from './resolve-connection.js';
import type { ResolvedConnection } from './resolved-connection.js';
import { responseTtlMs } from './response-ttl.js';

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
}

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
}

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

interface Rendered {
  connection: ResolvedConnection;
  connectionKey: string;
}

const hashOf = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

/** JSON with sorted keys, so equal params give equal cache keys. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Resolves integrations to connections: runs (or reuses) the workflow response per (workflow,
 * merged params, profile), renders the templates once per cached response and integration, and
 * validates the result. One structured log line per resolution.
 */
export function createResolver(deps: ResolverDeps): Resolver {
  const { config, masker, logger, metrics } = deps;
  const lines = deps.lines ?? directLines(logger);
  const now = deps.now ?? Date.now;
  const needed = neededPathsByWorkflow(config.integrations.values());
  const cache = new CredentialCache<unknown>({
    maxEntries: deps.settings.cache.maxEntries,
    maxStaleMs: deps.settings.cache.maxStaleSeconds * 1000,
    now,
    onEvent: (event) => {
      if (event.type === 'refresh-error') {
        logger.warn(
          {
            event: 'credentials.refresh',
            key: describeKey(event.key),
            background: event.background,
            outcome: 'error',
            failingSince: new Date(event.failingSince).toISOString(),
            error: masker.mask(String((event.error as Error)?.message ?? event.error)),
          },
          'refreshing credentials failed',
        );
      }
      // The secrets an evicted entry brought may be forgotten by the masker once it needs room.
      if (event.type === 'evict') masker.release(event.key);
      if (event.type === 'refresh-ok' || event.type === 'refresh-error') {
        metrics.refreshes.inc({
          workflow: describeKey(event.key).workflow,
          mode: event.background ? 'background' : 'foreground',
          outcome: event.type === 'refresh-ok' ? 'ok' : 'error',
        });
      }
    },
  });
  const rendered = new WeakMap<CacheEntry<unknown>, Map<string, Rendered>>();
  const staticConnections = new Map<string, Rendered>();

  // An integration accepts the profiles it declares, or else the agent's (CREDFLOW_PROFILES), so
  // callers cannot make the agent hold a cache entry and a pool per made-up profile name.
  const acceptedProfiles = new WeakMap<Integration, readonly string[]>();
  const profileFor = (integration: Integration, profile: string | undefined): string => {
    const chosen = profile ?? deps.settings.defaultProfile;
    let accepted = acceptedProfiles.get(integration);
    if (accepted === undefined) {
      const declared = integration.fetchCredentialsDynamically?.profiles;
      acceptedProfiles.set(integration, (accepted = declared ? Object.keys(declared) : deps.settings.profiles));
    }
    if (!accepted.includes(chosen)) {
      throw new CredflowError(
        'PROFILE_NOT_FOUND',
        `integration "${integration.name}" has no profile "${chosen}" (it has: ${accepted.join(', ')})`,
        { details: { integration: integration.name, profile: chosen } },
      );
    }
    return chosen;
  };

  // The configuration never changes while the agent runs: each (integration, profile) gets its key
  // and loader once, off the hot path.
  const keyed = new WeakMap<Integration, Map<string, ReturnType<typeof makeKey>>>();
  // Loads started per cache key (keys are bounded by the configured integrations and profiles).
  const loadsStarted = new Map<string, number>();
  const keyFor = (integration: Integration, profile: string) => {
    let byProfile = keyed.get(integration);
    if (byProfile === undefined) keyed.set(integration, (byProfile = new Map()));
    let found = byProfile.get(profile);
    if (found === undefined && !byProfile.has(profile)) byProfile.set(profile, (found = makeKey(integration, profile)));
    return found;
  };
  const makeKey = (integration: Integration, profile: string) => {
    const dynamic = integration.fetchCredentialsDynamically;
    if (!dynamic?.enabled) return undefined;
    const workflow = config.workflows.get(dynamic.workflow);
    if (!workflow)
      throw new CredflowError(
        'WORKFLOW_NOT_FOUND',
        `integration "${integration.name}": workflow "${dynamic.workflow}" does not exist`,
      );
    const params = { ...dynamic.params, ...dynamic.profiles?.[profile]?.params };
    const ttlSeconds = dynamic.cacheTtlSeconds ?? deps.settings.cache.ttlSeconds;
    const maxStaleSeconds = dynamic.maxStaleSeconds ?? deps.settings.cache.maxStaleSeconds;
    // The workflow sees context.integration, so each integration has entries of its own.
    const key = [
      workflow.name,
      profile,
      stableJson({ ...workflow.params, ...params }),
      integration.name,
      ttlSeconds,
      maxStaleSeconds,
    ].join('\u0000');
    const load: Loader<unknown> = async () => {
      // Loads of one key can overlap (an invalidate while one runs): like the cache, which keeps the
      // value of the load that started last, only that load's values are held for the entry.
      const started = (loadsStarted.get(key) ?? 0) + 1;
      loadsStarted.set(key, started);
      const run = await deps.runner.run(workflow, { params, context: { integration: integration.name, profile } });
      // The cache keeps the last failure for a while: its code and message, not the run's steps.
      if (!run.ok) throw run.error;
      run.masker.addSecretsIn(run.response);
      // The new entry replaces the previous one: the masker keeps what this run read while it lives.
      if (loadsStarted.get(key) === started) {
        masker.release(key);
        masker.hold(key, run.masker.learnt);
      }
      return {
        value: pruneResponse(run.response, needed.get(workflow.name)),
        ttlMs: responseTtlMs(run.response, ttlSeconds, now()),
        maxStaleMs: maxStaleSeconds * 1000,
      };
    };
    return { key, load, workflow: workflow.name };
  };

  /**
   * `cacheKey` for a connection rendered from a cached response: the password it holds is learnt,
   * and kept while that entry lives. A static connection's password is configuration: kept for good.
   */
  const render = (
    integration: Integration,
    response: unknown,
    workflow: string | undefined,
    cacheKey?: string,
  ): Rendered => {
    const context: Record<string, unknown> = { Env: deps.appEnv };
    if (workflow) {
      context[workflow] = { response };
      context.credentials = { response };
    }
    const learner = cacheKey === undefined ? masker : new SecretMasker(masker);
    const connection = renderConnection(integration, context, learner);
    if (cacheKey !== undefined) masker.hold(cacheKey, learner.learnt);
    return { connection, connectionKey: hashOf(connection) };
  };

  const renderEntry = (
    integration: Integration,
    entry: CacheEntry<unknown>,
    keyed: { key: string; workflow: string },
  ): Rendered => {
    let perIntegration = rendered.get(entry);
    if (!perIntegration) rendered.set(entry, (perIntegration = new Map()));
    let result = perIntegration.get(integration.name);
    if (!result)
      perIntegration.set(integration.name, (result = render(integration, entry.value, keyed.workflow, keyed.key)));
    return result;
  };

  /** The resolution's metric and log line. */
  const resolved = (
    integration: Integration,
    profile: string,
    actor: Actor,
    result: Resolved,
    started: number,
  ): Resolved => {
    metrics.cache.inc({ integration: integration.name, result: result.outcome });
    lines.info(
      {
        event: 'credentials.resolve',
        integration: integration.name,
        workflow: integration.fetchCredentialsDynamically?.workflow,
        profile,
        tokenId: actor.tokenId,
        route: actor.route,
        cache: result.outcome,
        outcome: 'ok',
      },
      'resolved credentials',
      performance.now() - started,
    );
    return result;
  };
  const failed = (integration: Integration, profile: string, actor: Actor, error: unknown, started: number): void => {
    logger.warn(
      {
        event: 'credentials.resolve',
        integration: integration.name,
        workflow: integration.fetchCredentialsDynamically?.workflow,
        profile,
        tokenId: actor.tokenId,
        route: actor.route,
        outcome: 'error',
        stage: stageOf(error),
        code: (error as CredflowError).code,
        durationMs: Math.round(performance.now() - started),
      },
      'could not resolve credentials',
    );
  };
  const staticResult = (integration: Integration, profile: string): Resolved => {
    let fixed = staticConnections.get(integration.name);
    if (!fixed) staticConnections.set(integration.name, (fixed = render(integration, undefined, undefined)));
    return { integration: integration.name, profile, ...fixed, generation: 0, outcome: 'static' };
  };

  const resolveCached = (
    integration: Integration,
    requested?: string,
    actor: Actor = localActor,
  ): Resolved | undefined => {
    const started = performance.now();
    const profile = profileFor(integration, requested);
    try {
      const keyed = keyFor(integration, profile);
      if (!keyed) return resolved(integration, profile, actor, staticResult(integration, profile), started);
      const entry = cache.peek(keyed.key, keyed.load);
      if (entry === undefined) return undefined;
      const { connection, connectionKey } = renderEntry(integration, entry, keyed);
      return resolved(
        integration,
        profile,
        actor,
        {
          integration: integration.name,
          profile,
          connection,
          connectionKey,
          generation: entry.generation,
          outcome: 'hit',
        },
        started,
      );
    } catch (error) {
      failed(integration, profile, actor, error, started);
      throw error;
    }
  };

  const resolve = async (
    integration: Integration,
    requested?: string,
    actor: Actor = localActor,
  ): Promise<Resolved> => {
    const started = performance.now();
    const profile = profileFor(integration, requested);
    try {
      const keyed = keyFor(integration, profile);
      if (!keyed) return resolved(integration, profile, actor, staticResult(integration, profile), started);
      const { entry, outcome } = await cache.get(keyed.key, keyed.load);
      return resolved(
        integration,
        profile,
        actor,
        {
          integration: integration.name,
          profile,
          ...renderEntry(integration, entry, keyed),
          generation: entry.generation,
          outcome,
        },
        started,
      );
    } catch (error) {
      failed(integration, profile, actor, error, started);
      throw error;
    }
  };

  return {
    profileFor,
    resolve,
    resolveCached,
    async reloadAfterAuthFailure(integration, failed, attemptStartedAt) {
      const keyed = keyFor(integration, failed.profile);
      if (!keyed) return failed;
      const entry = await cache.reload(keyed.key, failed.generation, keyed.load, attemptStartedAt);
      return {
        integration: integration.name,
        profile: failed.profile,
        ...renderEntry(integration, entry, keyed),
        generation: entry.generation,
        outcome: 'refresh',
      };
    },
    invalidate(integration) {
      staticConnections.delete(integration.name);
      const dynamic = integration.fetchCredentialsDynamically;
      if (!dynamic?.enabled) return 0;
      const profiles = new Set([
        deps.settings.defaultProfile,
        ...deps.settings.profiles,
        ...Object.keys(dynamic.profiles ?? {}),
      ]);
      let dropped = 0;
      for (const profile of profiles) {
        const keyed = keyFor(integration, profile);
        if (keyed && cache.invalidate(keyed.key)) {
          masker.release(keyed.key);
          dropped += 1;
        }
      }
      return dropped;
    },
    status(integration, requested) {
      const profile = profileFor(integration, requested);
      const keyed = keyFor(integration, profile);
      const slot = keyed ? cache.status(keyed.key) : undefined;
      const entry = slot?.entry;
      const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
      return {
        integration: integration.name,
        profile,
        workflow: keyed?.workflow,
        cached: entry !== undefined,
        refreshing: slot?.refreshing ?? false,
        fetchedAt: iso(entry?.fetchedAt),
        ageSeconds: entry ? Math.round((now() - entry.fetchedAt) / 100) / 10 : undefined,
        expiresAt: iso(entry?.expiresAt),
        staleUntil: iso(entry?.staleUntil),
        lastRefreshError: slot?.lastError
          ? { message: masker.mask(slot.lastError.message), at: new Date(slot.lastError.at).toISOString() }
          : undefined,
        failingSince: iso(slot?.failingSince),
      };
    },
  };
}

function describeKey(key: string): { workflow: string; profile: string } {
  const [workflow = '', profile = ''] = key.split('\u0000');
  return { workflow, profile };
}

import type { Logger } from 'pino';
import type { Actor } from '../access/index.js';
import type { Integration } from '../config/index.js';
import type { LineSink } from '../logging/index.js';
import type { SecretMasker } from '../masking/index.js';
import type { Metrics } from '../metrics/index.js';
import type { CacheKey } from './cache-key.js';
import type { CacheEvent } from './credential-cache.js';
import type { Resolved } from './resolver.js';
import type { WaitEvent } from './rotation-waits.js';
import { stageOf } from './stage-of.js';

export interface ResolutionReportDeps {
  logger: Logger;
  /** Where the one line per successful resolution goes. */
  lines: LineSink;
  metrics: Metrics;
  masker: SecretMasker;
}

/** What one resolution is about, for its metric and log line. */
export interface ResolutionAttempt {
  integration: Integration;
  profile: string;
  actor: Actor;
  /** performance.now() when it began. */
  started: number;
}

/**
 * The metrics and log lines of resolving: one line per resolution, and one per failed refresh of a
 * cached response. Error messages pass through the masker; no value of a connection is written.
 */
export class ResolutionReport {
  constructor(private readonly deps: ResolutionReportDeps) {}

  resolved(attempt: ResolutionAttempt, result: Resolved): Resolved {
    this.deps.metrics.cache.inc({ integration: attempt.integration.name, result: result.outcome });
    this.deps.lines.info(
      {
        ...about(attempt),
        cache: result.outcome,
        outcome: 'ok',
      },
      'resolved credentials',
      performance.now() - attempt.started,
    );
    return result;
  }

  failed(attempt: ResolutionAttempt, error: unknown): void {
    this.deps.logger.warn(
      {
        ...about(attempt),
        outcome: 'error',
        stage: stageOf(error),
        code: (error as { code?: unknown } | undefined)?.code,
        durationMs: Math.round(performance.now() - attempt.started),
      },
      'could not resolve credentials',
    );
  }

  /** A rotation wait of `key` began or ended: one line each (the queries that shared it have their own metric). */
  rotationWait(key: CacheKey | undefined, event: WaitEvent): void {
    const about = { integration: key?.integration, workflow: key?.workflow, profile: key?.profile };
    if (event.type === 'start') {
      this.deps.logger.warn(
        { event: 'credentials.rotation-wait', ...about, phase: 'start' },
        'the database refused credentials that worked before, and the secret store still returns them: waiting for new ones',
      );
      return;
    }
    this.deps.logger[event.outcome === 'rotated' ? 'info' : 'warn'](
      {
        event: 'credentials.rotation-wait',
        ...about,
        phase: 'end',
        outcome: event.outcome,
        fetches: event.fetches,
        durationMs: Math.round(event.durationMs),
      },
      event.outcome === 'rotated'
        ? 'the secret store returned new credentials'
        : 'every query waiting for new credentials gave up before the secret store returned any',
    );
  }

  /** A cache event about `key`: refreshes are counted, failed ones logged. */
  cacheEvent(event: CacheEvent, key: CacheKey | undefined): void {
    if (event.type === 'refresh-error') {
      this.deps.logger.warn(
        {
          event: 'credentials.refresh',
          key: { workflow: key?.workflow ?? '', profile: key?.profile ?? '' },
          background: event.background,
          outcome: 'error',
          failingSince: new Date(event.failingSince).toISOString(),
          error: this.deps.masker.mask(String((event.error as Error)?.message ?? event.error)),
        },
        'refreshing credentials failed',
      );
    }
    if (event.type === 'refresh-ok' || event.type === 'refresh-error') {
      this.deps.metrics.refreshes.inc({
        workflow: key?.workflow ?? '',
        mode: event.background ? 'background' : 'foreground',
        outcome: event.type === 'refresh-ok' ? 'ok' : 'error',
      });
    }
  }
}

/** The fields of every `credentials.resolve` line: which resolution, for whom. */
function about({ integration, profile, actor }: ResolutionAttempt) {
  return {
    event: 'credentials.resolve',
    integration: integration.name,
    workflow: integration.fetchCredentialsDynamically?.workflow,
    profile,
    tokenId: actor.tokenId,
    route: actor.route,
  };
}

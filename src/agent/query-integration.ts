import type { Actor } from '../access/index.js';
import type { Integration } from '../config/index.js';
import type { Resolved, Resolver } from '../credentials/index.js';
import { CredflowError } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';
import type { Metrics } from '../metrics/index.js';
import { runQuery, type PoolRegistry, type QueryLimits, type QueryResult } from '../postgres/index.js';

export interface QueryDeps {
  resolver: Resolver;
  pools: PoolRegistry;
  masker: SecretMasker;
  metrics: Metrics;
  /** How many times an authentication failure may trigger fresh credentials and a retry. */
  authRetries: number;
  /** The pool size: bounds the retries of statements whose session the server ended. */
  poolMax: number;
}

/** The server ended the session (admin shutdown, crash recovery, cannot connect now); PostgreSQL rolled the statement back. */
const sessionEndedCodes = new Set(['57P01', '57P02', '57P03']);

const sqlstateOf = (error: unknown) =>
  error instanceof CredflowError && typeof error.details?.sqlstate === 'string' ? error.details.sqlstate : undefined;

/**
 * Runs a query through an integration's current pool. When the database refuses the credentials
 * (28P01, 28000), the credentials are fetched again (single-flight), a pool is built on them and the
 * query retried, a bounded number of times; if the secret store still returns the refused
 * credentials, the auth failure is reported instead of looping. A statement cut off because the
 * server ended the session is retried on another connection (at most pool size + 1 times, since
 * each retry discards one dead connection).
 */
export interface QueryRequest {
  limits: QueryLimits;
  profile: string | undefined;
  sql: string;
  params: readonly unknown[];
  actor: Actor | undefined;
}

export async function queryIntegration(
  deps: QueryDeps,
  integration: Integration,
  request: QueryRequest,
): Promise<QueryResult> {
  const { sql, params } = request;
  let resolved: Resolved =
    deps.resolver.resolveCached(integration, request.profile, request.actor) ??
    (await deps.resolver.resolve(integration, request.profile, request.actor));
  let authRetries = 0;
  let sessionRetries = 0;
  for (;;) {
    const lease = deps.pools.lease({
      integration: integration.name,
      profile: resolved.profile,
      connectionKey: resolved.connectionKey,
      connection: resolved.connection,
      generation: resolved.generation,
      statementTimeoutMs: request.limits.statementTimeoutMs,
    });
    const attemptStartedAt = Date.now();
    try {
      return await runQuery({
        lease,
        integration: integration.name,
        sql,
        params,
        masker: deps.masker,
        limits: request.limits,
        caller: request.actor?.tokenId,
      });
    } catch (error) {
      lease.release();
      const code = error instanceof CredflowError ? error.code : undefined;
      if (
        code === 'DB_AUTH_FAILED' &&
        integration.fetchCredentialsDynamically?.enabled &&
        authRetries < deps.authRetries
      ) {
        authRetries += 1;
        deps.metrics.authRetries.inc({ integration: integration.name });
        const fresh = await deps.resolver.reloadAfterAuthFailure(integration, resolved, attemptStartedAt);
        if (fresh.connectionKey === resolved.connectionKey) {
          // No loop, and no fail-fast memory either: the next query fetches again (once for all
          // concurrent ones), so a rotation completing a moment later is picked up at once.
          throw new CredflowError(
            'DB_AUTH_FAILED',
            `${(error as CredflowError).message} (fetched the credentials again: the secret store still returns the ones the database refused)`,
            { details: (error as CredflowError).details },
          );
        }
        resolved = fresh;
        continue;
      }
      const sqlstate = sqlstateOf(error);
      // Every idle connection of the pool may have been cut at once: each retry discards one.
      if (sessionRetries <= deps.poolMax && sqlstate && sessionEndedCodes.has(sqlstate)) {
        sessionRetries += 1;
        continue;
      }
      throw error;
    } finally {
      lease.release();
    }
  }
}

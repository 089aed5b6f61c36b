import type { Actor } from '../access/index.js';
import type { Integration } from '../config/index.js';
import type { Resolved } from '../credentials/index.js';
import { CredflowError } from '../errors.js';
import { runQuery, type QueryResult } from '../postgres/index.js';
import type { UseCaseContext } from './use-case-context.js';

/** The server ended the session (admin shutdown, crash recovery, cannot connect now); PostgreSQL rolled the statement back. */
const sessionEndedCodes = new Set(['57P01', '57P02', '57P03']);

const sqlstateOf = (error: unknown) =>
  error instanceof CredflowError && typeof error.details?.sqlstate === 'string' ? error.details.sqlstate : undefined;

export interface QueryRequest {
  profile: string | undefined;
  sql: string;
  params: readonly unknown[];
  actor: Actor | undefined;
}

/**
 * Runs a query through an integration's current pool. When the database refuses the credentials
 * (28P01, 28000), the credentials are fetched again (single-flight), a pool is built on them and the
 * query retried, a bounded number of times; if the secret store still returns the refused
 * credentials, the auth failure is reported instead of looping. A statement cut off because the
 * server ended the session is retried on another connection (at most pool size + 1 times, since
 * each retry discards one dead connection).
 */
export async function queryIntegration(
  ctx: UseCaseContext,
  integration: Integration,
  request: QueryRequest,
): Promise<QueryResult> {
  const { sql, params } = request;
  const { resolver, limits } = ctx.served.of(integration);
  let resolved: Resolved =
    resolver.resolveCached(integration, request.profile, request.actor) ??
    (await resolver.resolve(integration, request.profile, request.actor));
  let authRetries = 0;
  let sessionRetries = 0;
  for (;;) {
    const lease = ctx.pools.lease({
      integration: integration.name,
      profile: resolved.profile,
      connectionKey: resolved.connectionKey,
      connection: resolved.connection,
      generation: resolved.generation,
      statementTimeoutMs: limits.statementTimeoutMs,
    });
    const attemptStartedAt = Date.now();
    try {
      return await runQuery({
        lease,
        integration: integration.name,
        sql,
        params,
        masker: ctx.masker,
        limits: limits,
        caller: request.actor?.tokenId,
      });
    } catch (error) {
      lease.release();
      const code = error instanceof CredflowError ? error.code : undefined;
      if (
        code === 'DB_AUTH_FAILED' &&
        integration.fetchCredentialsDynamically?.enabled &&
        authRetries < ctx.settings.authRetries
      ) {
        authRetries += 1;
        ctx.metrics.authRetries.inc({ integration: integration.name });
        const fresh = await resolver.reloadAfterAuthFailure(integration, resolved, attemptStartedAt);
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
      if (sessionRetries <= ctx.settings.poolMax && sqlstate && sessionEndedCodes.has(sqlstate)) {
        sessionRetries += 1;
        continue;
      }
      throw error;
    } finally {
      lease.release();
    }
  }
}

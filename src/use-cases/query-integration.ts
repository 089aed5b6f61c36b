import type { Actor } from '../access/index.js';
import type { Integration } from '../config/index.js';
import type { CancelHook, Resolved } from '../credentials/index.js';
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
  /** When the caller stops waiting (ms since the epoch): a wait for new credentials never goes past it. */
  deadline?: number | undefined;
  /** Ends a wait for new credentials when the caller goes away. */
  cancelled?: CancelHook | undefined;
}

/**
 * Runs a query through an integration's current pool. When the database refuses the credentials
 * (28P01, 28000), they are fetched again (single-flight, spaced per key) and the query retried on
 * different ones, a bounded number of times. When the store still returns the refused credentials
 * and they worked before, the database has most likely changed the password before the store: the
 * query waits for the store to catch up (see Resolver.afterAuthFailure), for the integration's
 * rotationWaitMs at most and never past the request's deadline; past it, or when the credentials
 * never worked, the auth failure is reported, saying how long it waited and how often it fetched.
 * A statement cut off because the server ended the session is retried on another connection (at
 * most pool size + 1 times, since each retry discards one dead connection).
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
  let firstRefusalAt: number | undefined;
  let fetches = 0;
  let waited = false;
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
      const result = await runQuery({
        lease,
        integration: integration.name,
        sql,
        params,
        masker: ctx.masker,
        limits: limits,
        caller: request.actor?.tokenId,
      });
      resolver.succeeded(integration, resolved);
      if (waited) observeWait(ctx, integration, 'rotated', firstRefusalAt);
      return result;
    } catch (error) {
      lease.release();
      if (isAuthFailure(error) && integration.fetchCredentialsDynamically?.enabled) {
        firstRefusalAt ??= attemptStartedAt;
        ctx.metrics.authRetries.inc({ integration: integration.name });
        const waitMs = integration.fetchCredentialsDynamically.rotationWaitMs ?? ctx.settings.rotationWaitMs;
        const after = await resolver.afterAuthFailure(integration, resolved, {
          attemptStartedAt,
          waitUntil: Math.min(firstRefusalAt + waitMs, request.deadline ?? Infinity),
          cancelled: request.cancelled,
        });
        fetches += after.fetches;
        waited ||= after.waited;
        if ('refused' in after) {
          // Refused again once the bound had passed, after a wait: the wait is what timed out.
          const why = waited && after.refused === 'unchanged' ? 'timeout' : after.refused;
          if (waited) observeWait(ctx, integration, why === 'cancelled' ? 'cancelled' : 'timeout', firstRefusalAt);
          throw refusedError(error, why, waited ? Date.now() - firstRefusalAt : 0, fetches);
        }
        // Credentials a wait brought are the store's (or the database's) answer to the refusal:
        // only those a plain reload brought count against authRetries; the wait's bound ends a
        // loop of the others.
        if (!after.waited) authRetries += 1;
        if (after.waited || authRetries <= ctx.settings.authRetries) {
          resolved = after.retry;
          continue;
        }
        throw refusedError(error, 'retries', 0, fetches);
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

/** One query's wait for new credentials, from its first refusal to its outcome. */
function observeWait(
  ctx: UseCaseContext,
  integration: Integration,
  outcome: 'rotated' | 'timeout' | 'cancelled',
  since: number | undefined,
): void {
  const seconds = since === undefined ? 0 : (Date.now() - since) / 1000;
  ctx.metrics.rotationWaits.observe({ integration: integration.name, outcome }, seconds);
}

function isAuthFailure(error: unknown): error is CredflowError {
  return error instanceof CredflowError && error.code === 'DB_AUTH_FAILED';
}

/** The database's refusal, with what credflow did about it: fetched again, and maybe waited. */
function refusedError(
  error: CredflowError,
  why: 'unchanged' | 'retries' | 'timeout' | 'cancelled',
  waitedMs: number,
  fetches: number,
): CredflowError {
  const times = fetches === 1 ? 'once' : `${fetches} times`;
  const explanation =
    why === 'unchanged'
      ? fetches > 0
        ? 'fetched the credentials again: the secret store still returns the ones the database refused'
        : 'the secret store still returns the ones the database refused (it was asked less than 250 ms ago)'
      : why === 'retries'
        ? `fetched other credentials ${times}, and the database refused those too`
        : why === 'timeout'
          ? `waited ${waitedMs} ms for the secret store to return other credentials and fetched them ${times}: it still returns the ones the database refused`
          : `the caller went away after ${waitedMs} ms of waiting for the secret store to return other credentials`;
  return new CredflowError('DB_AUTH_FAILED', `${error.message} (${explanation})`, {
    details: { ...error.details, rotationWait: { outcome: why, waitedMs, fetches } },
  });
}

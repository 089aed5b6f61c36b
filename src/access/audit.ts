import { cutOptional, cutText, type LineSink } from '../logging/index.js';
import type { Actor } from './actor.js';

/** Calls made inside the agent's own process (the CLI without --url, tests, the bench). */
export const localActor: Actor = { tokenId: 'local', route: 'in-process' };

export interface AuditEvent {
  action: 'query' | 'test' | 'preview' | 'reveal' | 'invalidate';
  actor: Actor | undefined;
  integration?: string | undefined;
  workflow?: string | undefined;
  profile?: string | undefined;
  outcome: 'ok' | 'error';
  code?: string | undefined;
  durationMs: number;
}

/**
 * One audit line per use of credentials: who (token id, never the token), what, on which
 * integration/workflow/profile, the outcome and how long it took. Never a value.
 */
export function audit(logger: LineSink, event: AuditEvent): void {
  const actor = event.actor ?? localActor;
  logger.info(
    {
      event: 'audit',
      action: event.action,
      // Names may come from the URL (an integration that does not exist): cut like any caller's text.
      tokenId: cutText(actor.tokenId),
      route: cutText(actor.route),
      integration: cutOptional(event.integration),
      workflow: cutOptional(event.workflow),
      profile: cutOptional(event.profile),
      outcome: event.outcome,
      code: event.code,
    },
    'audit',
    event.durationMs,
  );
}

import type pg from 'pg';
import { CredflowError } from '../errors.js';
import type { ConnectionDetails } from './map-pg-error.js';
import type { GuardTrip } from './message-guard.js';

/** The error a query gets when the message guard closed its connection. */
export function tripError(integration: string, trip: GuardTrip): CredflowError {
  if (trip.kind === 'copy') {
    return new CredflowError(
      'DB_QUERY_FAILED',
      `integration "${integration}": COPY ... TO STDOUT and COPY ... FROM STDIN are not supported (the server began a ${trip.messageType}); the agent returns rows: use SELECT`,
      { details: { integration, messageType: trip.messageType } },
    );
  }
  return new CredflowError(
    'RESULT_TOO_LARGE',
    `integration "${integration}": the database sent a ${trip.messageType} of ${trip.bytes} bytes, over the limit of ${trip.limit} bytes for one message; the query was stopped and its connection closed`,
    { details: { integration, messageType: trip.messageType, messageBytes: trip.bytes, limit: trip.limit } },
  );
}

/** Where the pool connects, so error messages can be scrubbed of it. */
export function detailsOf(pool: pg.Pool): ConnectionDetails {
  const o = pool.options as {
    host?: unknown;
    port?: unknown;
    user?: unknown;
    database?: unknown;
    connectionString?: unknown;
  };
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);
  const details: ConnectionDetails = {
    host: text(o.host),
    port: text(o.port),
    user: text(o.user),
    database: text(o.database),
  };
  if (typeof o.connectionString === 'string') {
    try {
      const url = new URL(o.connectionString);
      details.host ??= decodeURIComponent(url.hostname);
      details.port ??= url.port || undefined;
      details.user ??= decodeURIComponent(url.username) || undefined;
      details.database ??= decodeURIComponent(url.pathname.slice(1)) || undefined;
    } catch {
      // Not a URL (a libpq key=value string): the masker still guards the password.
    }
  }
  return details;
}

import type pg from 'pg';
import { guardedConnectionOf } from './guarded-client.js';
import { MessageGuard, type GuardTrip } from './message-guard.js';
import { socketOf } from './pg-internals.js';
import { StatementWatchdog } from './statement-watchdog.js';

/** What the agent keeps about each pooled session, attached when a query first checks it out. */
export interface Session {
  /** Who last ran a statement on it (a token id). */
  caller: string | undefined;
  /** Set when the current query left the session unusable; the client is then discarded. */
  broken: Error | undefined;
  /** The guard that judges every message arriving on the connection's socket. */
  guard: MessageGuard | undefined;
  /** Why the guard closed the connection, when it did. */
  trip: GuardTrip | undefined;
}

/**
 * The sessions of the pools a query runs on, and the watchdog that cancels their runaway
 * statements: one per pool registry, so that one timer sweeps the statements of all its pools.
 */
export class QuerySessions {
  readonly watchdog = new StatementWatchdog();
  private readonly sessions = new WeakMap<pg.PoolClient, Session>();

  /** The client's session, made at its first checkout (a message boundary, where a guard may attach). */
  sessionOf(client: pg.PoolClient, messageLimit: number): Session {
    let session = this.sessions.get(client);
    if (session === undefined) {
      session = attach(client, messageLimit);
      this.sessions.set(client, session);
    }
    return session;
  }
}

function attach(client: pg.PoolClient, messageLimit: number): Session {
  const session: Session = { caller: undefined, broken: undefined, guard: undefined, trip: undefined };
  const onTrip = (trip: GuardTrip): void => {
    session.trip ??= trip;
    session.broken ??= new Error(`the message guard closed the connection (${trip.messageType})`);
  };
  // Pools of the registry make guarded clients, judged from their first byte; a pool made
  // elsewhere gets its guard here, at the first checkout.
  const connected = guardedConnectionOf(client);
  if (connected) {
    connected.onTrip = onTrip;
    session.guard = connected.guard;
  } else {
    const socket = socketOf(client);
    if (socket) session.guard = new MessageGuard(socket, messageLimit, onTrip);
  }
  // pg-pool detaches its own listener while a client is checked out; a server that goes away
  // mid-query then emits 'error' on the client, which must not become an uncaught exception.
  // One listener for the client's life (while idle, the pool's own listener handles errors too).
  client.on('error', (error: Error) => {
    session.broken ??= error;
  });
  return session;
}

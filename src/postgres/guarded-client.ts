import pg from 'pg';
import { MessageGuard, type GuardTrip } from './message-guard.js';
import { socketOf, whenParserAttached } from './pg-internals.js';

/** What happened to a guarded connection, read by the query that holds it. */
export interface GuardedConnection {
  guard: MessageGuard;
  /** Called when the guard closes the connection; a query sets it while it holds the client. */
  onTrip: ((trip: GuardTrip) => void) | undefined;
}

/** A client made by `guardedClient`, once it connected. */
interface Guarded {
  guardedConnection?: GuardedConnection;
}

/** The guard a client got when it connected, if it was made by `guardedClient`. */
export function guardedConnectionOf(client: pg.Client): GuardedConnection | undefined {
  return (client as pg.Client & Guarded).guardedConnection;
}

/** Decides whether a client may connect to `server` (`host:port`): a slot released when its socket closes, or the refusal. */
export type AdmitConnection = (server: string) => { release(): void } | Error;

/**
 * A pg.Client whose socket is guarded from its first byte: the server's answers to the startup
 * message (ParameterStatus of every reported setting, which a role can make huge with
 * `ALTER ROLE ... SET search_path`) are judged like any later message, before pg decodes them. A
 * trip during start-up destroys the socket, so the connect fails and the pool never lends the client.
 *
 * With `admit`, a client asks before it opens its socket; refused, its connect fails at once with
 * admit's error (the pool then drops it), and admitted, it holds its slot until the socket (the
 * plain one, which pg keeps under TLS too) closes.
 */
export function guardedClient(messageLimit: number, admit?: AdmitConnection): typeof pg.Client {
  return class GuardedClient extends pg.Client implements Guarded {
    guardedConnection: GuardedConnection | undefined;

    override connect(): Promise<pg.Client>;
    override connect(callback: (error: Error) => void): void;
    override connect(callback?: (error: Error) => void): Promise<pg.Client> | void {
      if (admit) {
        const slot = admit(`${String(this.host ?? 'localhost').toLowerCase()}:${String(this.port ?? 5432)}`);
        if (slot instanceof Error) {
          if (!callback) return Promise.reject(slot);
          process.nextTick(callback, slot);
          return;
        }
        socketOf(this)?.once('close', () => slot.release());
      }
      const result = callback ? super.connect(callback) : super.connect();
      whenParserAttached(this, (socket) => {
        const record: GuardedConnection = {
          guard: new MessageGuard(socket, messageLimit, (trip) => record.onTrip?.(trip)),
          onTrip: undefined,
        };
        this.guardedConnection = record;
      });
      return result;
    }
  };
}

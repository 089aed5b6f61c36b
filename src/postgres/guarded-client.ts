import type { Duplex } from 'node:stream';
import pg from 'pg';
import { MessageGuard, type GuardTrip } from './message-guard.js';

/** What happened to a guarded connection, read by the query that holds it. */
export interface GuardedConnection {
  guard: MessageGuard;
  /** Called when the guard closes the connection; a query sets it while it holds the client. */
  onTrip: ((trip: GuardTrip) => void) | undefined;
}

const guarded = new WeakMap<pg.Client, GuardedConnection>();

/** The guard a client got when it connected, if it was made by `guardedClient`. */
export function guardedConnectionOf(client: pg.Client): GuardedConnection | undefined {
  return guarded.get(client);
}

/** Decides whether a client may connect to `server` (`host:port`): a slot released when its socket closes, or the refusal. */
export type AdmitConnection = (server: string) => { release(): void } | Error;

/**
 * A pg.Client whose socket is guarded from its first byte: the server's answers to the startup
 * message (ParameterStatus of every reported setting, which a role can make huge with
 * `ALTER ROLE ... SET search_path`) are judged like any later message, before pg decodes them. A
 * trip during start-up destroys the socket, so the connect fails and the pool never lends the client.
 *
 * pg attaches its parser to the socket synchronously in `connect()`, or, with TLS, on the
 * connection's 'sslconnect' event, which is where the guard takes it over (pg 8.x; see
 * test/unit/guarded-client.test.ts).
 *
 * With `admit`, a client asks before it opens its socket; refused, its connect fails at once with
 * admit's error (the pool then drops it), and admitted, it holds its slot until the socket (the
 * plain one, which pg keeps under TLS too) closes.
 */
export function guardedClient(messageLimit: number, admit?: AdmitConnection): typeof pg.Client {
  return class GuardedClient extends pg.Client {
    override connect(): Promise<pg.Client>;
    override connect(callback: (error: Error) => void): void;
    override connect(callback?: (error: Error) => void): Promise<pg.Client> | void {
      const connection = (
        this as unknown as {
          connection: { stream: Duplex; ssl?: unknown; once(event: string, listener: () => void): void };
        }
      ).connection;
      if (admit) {
        const self = this as unknown as { host?: unknown; port?: unknown };
        const slot = admit(`${String(self.host ?? 'localhost').toLowerCase()}:${String(self.port ?? 5432)}`);
        if (slot instanceof Error) {
          if (!callback) return Promise.reject(slot);
          process.nextTick(callback, slot);
          return;
        }
        connection.stream.once('close', () => slot.release());
      }
      const result = callback ? super.connect(callback) : super.connect();
      const attach = (): void => {
        const record: GuardedConnection = {
          guard: new MessageGuard(connection.stream, messageLimit, (trip) => record.onTrip?.(trip)),
          onTrip: undefined,
        };
        guarded.set(this, record);
      };
      if (connection.ssl) connection.once('sslconnect', attach);
      else attach();
      return result;
    }
  };
}

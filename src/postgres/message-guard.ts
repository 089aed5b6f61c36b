import type { Duplex } from 'node:stream';

const DATA_ROW = 0x44; // 'D'
/** CopyInResponse, CopyOutResponse, CopyBothResponse: the server would start a copy stream. */
const COPY_STARTS = new Set([0x47, 0x48, 0x57]); // 'G', 'H', 'W'

/** The names of the backend messages, for error texts. */
const names: Record<string, string> = {
  E: 'ErrorResponse',
  N: 'NoticeResponse',
  A: 'NotificationResponse',
  S: 'ParameterStatus',
  D: 'DataRow',
  d: 'CopyData',
  T: 'RowDescription',
  C: 'CommandComplete',
  t: 'ParameterDescription',
  R: 'Authentication',
  v: 'NegotiateProtocolVersion',
  G: 'CopyInResponse',
  H: 'CopyOutResponse',
  W: 'CopyBothResponse',
};

/** Why a guard closed its connection. */
export type GuardTrip =
  { kind: 'tooLarge'; messageType: string; bytes: number; limit: number } | { kind: 'copy'; messageType: string };

/** What the running query wants of the guard. */
export interface GuardArming {
  /** A DataRow longer than this (frame bytes) never reaches pg: its bytes are dropped and `onRowDropped` told. */
  rowLimit: number;
  onRowDropped(bytes: number): void;
  /** Every other message, and a DataRow while no query is armed, over this many bytes closes the connection. */
  messageLimit: number;
}

/**
 * Stands between a connection's socket and pg's protocol parser, and judges every backend message
 * by its 5-byte header before pg sees any of it. pg decodes a whole message into one string or
 * buffer, so one ErrorResponse or NoticeResponse of 540 million characters throws where nothing can
 * catch it (ERR_STRING_TOO_LONG in the socket's data handler) and a 100 MB one costs hundreds of MB.
 *
 * - A DataRow over the armed row limit is cut out of the stream (pg never sees it) and the query is
 *   told, so it reports a truncated result, as for any row past maxResultBytes; the session stays usable.
 * - Any other message over the message limit (and a DataRow while disarmed), and the start of a copy
 *   stream, trips the guard: nothing more reaches pg, the socket is destroyed (pg then fails the
 *   running query, or emits 'error' on an idle client) and `onTrip` says why, once.
 *
 * The guard takes over the socket's 'data' listeners (pg-protocol's parser) when attached, at a
 * message boundary (a checked-out idle client is at one), and feeds them the bytes it lets through.
 * Messages are judged even while no query is armed: an idle session can receive a NotificationResponse
 * or a ParameterStatus.
 */
export class MessageGuard {
  private rowLimit: number;
  private messageLimit: number;
  private onRowDropped: ((bytes: number) => void) | undefined;
  private readonly downstream: ((chunk: Buffer) => void)[];
  /** Bytes of the current message's body still to pass (or to drop, when `dropping`). */
  private skip = 0;
  private dropping = false;
  /** A header split across chunks: its bytes so far, held back from pg until judged. */
  private readonly header = Buffer.alloc(5);
  private have = 0;
  private tripped = false;

  constructor(
    private readonly stream: Duplex,
    messageLimit: number,
    private readonly onTrip: (trip: GuardTrip) => void,
  ) {
    this.messageLimit = messageLimit;
    this.rowLimit = messageLimit;
    this.downstream = stream.listeners('data') as ((chunk: Buffer) => void)[];
    if (this.downstream.length === 0) throw new Error('MessageGuard: the connection has no data listener to guard');
    for (const listener of this.downstream) stream.removeListener('data', listener);
    stream.on('data', this.onData);
  }

  /** Applies a query's limits until `disarm`. */
  arm(arming: GuardArming): void {
    this.rowLimit = arming.rowLimit;
    this.messageLimit = arming.messageLimit;
    this.onRowDropped = arming.onRowDropped;
  }

  disarm(): void {
    this.rowLimit = this.messageLimit;
    this.onRowDropped = undefined;
  }

  private forward(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const piece = from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
    for (const listener of this.downstream) listener.call(this.stream, piece);
  }

  private trip(trip: GuardTrip): void {
    this.tripped = true;
    // The error carries the trip, so a connect that fails on it (a start-up message over the bound)
    // says why; it is only given to a stream someone listens to for errors (pg always does), never thrown.
    const error = Object.assign(new Error(`the message guard closed the connection (${trip.messageType})`), {
      guardTrip: trip,
    });
    this.stream.destroy(this.stream.listenerCount('error') > 0 ? error : undefined);
    this.onTrip(trip);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.tripped) return;
    const n = chunk.length;
    let i = 0;
    // Bytes from `from` up to the header being judged are judged already and go to pg in order.
    let from = 0;
    while (i < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - i);
        this.skip -= k;
        i += k;
        if (this.dropping) {
          from = i;
          if (this.skip === 0) this.dropping = false;
        }
        continue;
      }
      // A message header: one type byte and a 4-byte length that counts itself.
      const start = i;
      let type: number;
      let length: number;
      let held: Buffer | undefined;
      if (this.have === 0 && n - i >= 5) {
        type = chunk[i] as number;
        length = chunk.readUInt32BE(i + 1);
        i += 5;
      } else {
        const k = Math.min(5 - this.have, n - i);
        chunk.copy(this.header, this.have, i, i + k);
        this.have += k;
        i += k;
        if (this.have < 5) {
          this.forward(chunk, from, start);
          return;
        }
        this.have = 0;
        held = Buffer.from(this.header);
        type = held[0] as number;
        length = held.readUInt32BE(1);
      }
      const letter = String.fromCharCode(type);
      const messageType = names[letter] ?? `message '${letter}'`;
      if (COPY_STARTS.has(type)) {
        this.forward(chunk, from, start);
        this.trip({ kind: 'copy', messageType });
        return;
      }
      const limit = type === DATA_ROW ? this.rowLimit : this.messageLimit;
      if (length > limit) {
        this.forward(chunk, from, start);
        if (type === DATA_ROW && this.onRowDropped) {
          this.onRowDropped(length);
          this.skip = length - 4;
          this.dropping = this.skip > 0;
          from = i;
          continue;
        }
        this.trip({ kind: 'tooLarge', messageType, bytes: length, limit });
        return;
      }
      if (held) {
        this.forward(chunk, from, start);
        for (const listener of this.downstream) listener.call(this.stream, held);
        from = i;
      }
      this.skip = length - 4;
    }
    this.forward(chunk, from, n);
  };
}

import type { Duplex } from 'node:stream';

const DATA_ROW = 0x44; // 'D'

/**
 * Watches the frames the server sends on a connection and reports the first DataRow longer than the
 * armed limit before pg decodes it: pg reads a whole row into one string, and a row of a few hundred
 * MB (`SELECT repeat('x', 600000000)`) would exhaust memory or throw where nothing can catch it.
 *
 * One guard is attached per connection, at a message boundary (a checked-out idle client is at one),
 * and follows the frames for the connection's life, so a query only arms and disarms it. While
 * disarmed no row is judged. Reading a frame header costs two byte reads unless it straddles chunks.
 */
export class RowSizeGuard {
  private limit = Number.POSITIVE_INFINITY;
  private onTooLarge: ((bytes: number) => void) | undefined;
  /** Bytes of the current frame's body still to pass. */
  private skip = 0;
  /** A frame header split across chunks: its bytes so far. */
  private readonly header = Buffer.alloc(5);
  private have = 0;
  private tripped = false;

  constructor(stream: Duplex) {
    stream.prependListener('data', this.onData);
  }

  /** Judges the rows of the next query: a row over `limit` bytes calls `onTooLarge` once. */
  arm(limit: number, onTooLarge: (bytes: number) => void): void {
    this.limit = limit;
    this.onTooLarge = onTooLarge;
  }

  disarm(): void {
    this.limit = Number.POSITIVE_INFINITY;
    this.onTooLarge = undefined;
  }

  private readonly onData = (chunk: Buffer): void => {
    const n = chunk.length;
    let i = 0;
    while (!this.tripped && i < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - i);
        this.skip -= k;
        i += k;
        continue;
      }
      // A frame header: one type byte and a 4-byte length that counts itself.
      let type: number;
      let length: number;
      if (this.have === 0 && n - i >= 5) {
        type = chunk[i] as number;
        length = chunk.readUInt32BE(i + 1);
        i += 5;
      } else {
        const k = Math.min(5 - this.have, n - i);
        chunk.copy(this.header, this.have, i, i + k);
        this.have += k;
        i += k;
        if (this.have < 5) return;
        this.have = 0;
        type = this.header[0] as number;
        length = this.header.readUInt32BE(1);
      }
      if (type === DATA_ROW && length > this.limit) {
        this.tripped = true;
        this.onTooLarge?.(length);
        return;
      }
      this.skip = length - 4;
    }
  };
}

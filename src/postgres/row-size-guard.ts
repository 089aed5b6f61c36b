import type { Duplex } from 'node:stream';

const DATA_ROW = 0x44; // 'D'

/**
 * Watches the frames the server sends on a connection and reports the first DataRow longer than
 * `limit` bytes before pg decodes it: pg reads a whole row into one string, and a row of a few
 * hundred MB (`SELECT repeat('x', 600000000)`) would exhaust memory or throw where nothing can
 * catch it. Attach at a message boundary (a checked-out idle client is at one); returns the detach.
 */
export function guardRowSize(stream: Duplex, limit: number, onTooLarge: (bytes: number) => void): () => void {
  let skip = 0;
  let header: Buffer | undefined;
  let tripped = false;
  const onData = (chunk: Buffer): void => {
    let i = 0;
    while (!tripped && i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
        continue;
      }
      // A frame header: one type byte and a 4-byte length that counts itself.
      const want = 5 - (header?.length ?? 0);
      const piece = chunk.subarray(i, i + want);
      i += piece.length;
      header = header ? Buffer.concat([header, piece]) : Buffer.from(piece);
      if (header.length < 5) return;
      const type = header[0];
      const length = header.readUInt32BE(1);
      header = undefined;
      if (type === DATA_ROW && length > limit) {
        tripped = true;
        onTooLarge(length);
        return;
      }
      skip = length - 4;
    }
  };
  stream.prependListener('data', onData);
  return () => {
    stream.off('data', onData);
  };
}

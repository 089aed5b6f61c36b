import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MessageGuard, type GuardTrip } from '../../src/postgres/message-guard.js';

/** One backend message: a type letter, a length that counts itself, then the body. */
const frame = (type: string, body: Buffer | string): Buffer => {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([header, payload]);
};

/** A socket stand-in with one downstream 'data' listener, as pg-protocol attaches; the guard in front of it. */
function guarded(messageLimit: number) {
  const stream = new PassThrough();
  const seen: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => seen.push(Buffer.from(chunk)));
  const trips: GuardTrip[] = [];
  const guard = new MessageGuard(stream, messageLimit, (trip) => trips.push(trip));
  const dropped: number[] = [];
  return {
    stream,
    guard,
    trips,
    dropped,
    arm(rowLimit: number) {
      guard.arm({ rowLimit, messageLimit, onRowDropped: (bytes) => dropped.push(bytes) });
    },
    /** Writes `bytes` in pieces of `size` and returns what reached the downstream listener. */
    async feed(bytes: Buffer, size: number): Promise<Buffer> {
      for (let i = 0; i < bytes.length && !stream.destroyed; i += size) stream.write(bytes.subarray(i, i + size));
      await new Promise((resolve) => setImmediate(resolve));
      return Buffer.concat(seen);
    },
  };
}

const small = frame('D', 'row-one');
const big = frame('D', 'x'.repeat(300));
const ready = frame('Z', 'I');

describe('MessageGuard', () => {
  it('passes every byte of messages within the limits, whatever the chunk boundaries', async () => {
    const all = Buffer.concat([frame('T', 'fields'), small, frame('N', 'a notice'), frame('C', 'SELECT 1'), ready]);
    for (const size of [1, 2, 3, 4, 5, 6, 7, 11, 64, all.length]) {
      const g = guarded(100);
      g.arm(100);
      expect(await g.feed(all, size), `chunks of ${size}`).toEqual(all);
      expect(g.trips).toEqual([]);
    }
  });

  it('cuts a DataRow over the row limit out of the stream, tells the query, and passes what follows, whatever the chunk boundaries', async () => {
    const all = Buffer.concat([small, big, small, ready]);
    for (const size of [1, 2, 3, 5, 7, 13, 200, all.length]) {
      const g = guarded(1000);
      g.arm(100);
      expect(await g.feed(all, size), `chunks of ${size}`).toEqual(Buffer.concat([small, small, ready]));
      expect(g.dropped).toEqual([304]);
      expect(g.trips).toEqual([]);
    }
  });

  it('trips on a NoticeResponse over the message limit: nothing from its header on reaches pg and the socket is destroyed', async () => {
    for (const size of [1, 4, 9, 64]) {
      const g = guarded(100);
      g.arm(1000);
      const seen = await g.feed(Buffer.concat([small, frame('N', 'n'.repeat(200)), ready]), size);
      expect(seen, `chunks of ${size}`).toEqual(small);
      expect(g.trips).toEqual([{ kind: 'tooLarge', messageType: 'NoticeResponse', bytes: 204, limit: 100 }]);
      expect(g.stream.destroyed).toBe(true);
    }
  });

  it('judges messages while disarmed: a NotificationResponse or a DataRow over the message limit trips', async () => {
    const notify = guarded(100);
    expect(await notify.feed(frame('A', 'p'.repeat(150)), 16)).toEqual(Buffer.alloc(0));
    expect(notify.trips).toEqual([{ kind: 'tooLarge', messageType: 'NotificationResponse', bytes: 154, limit: 100 }]);

    const row = guarded(100);
    row.arm(1000);
    row.guard.disarm();
    expect(await row.feed(big, 16)).toEqual(Buffer.alloc(0));
    expect(row.trips).toEqual([{ kind: 'tooLarge', messageType: 'DataRow', bytes: 304, limit: 100 }]);
  });

  it('trips on the start of a copy stream, whatever its size', async () => {
    const g = guarded(100);
    g.arm(100);
    expect(await g.feed(Buffer.concat([frame('H', Buffer.from([0, 0, 1, 0, 0])), frame('d', 'x')]), 3)).toEqual(
      Buffer.alloc(0),
    );
    expect(g.trips).toEqual([{ kind: 'copy', messageType: 'CopyOutResponse' }]);
  });
});

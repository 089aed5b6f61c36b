import { createRequire } from 'node:module';
import { describe, expect, inject, it } from 'vitest';
import { guardedClient, guardedConnectionOf } from '../../src/postgres/guarded-client.js';

/**
 * The contract credflow relies on in pg's internals (see src/postgres/pg-internals.ts): `connect()`
 * attaches pg-protocol's parser to `client.connection.stream` synchronously, as its only 'data'
 * listener, which the guard takes over. pg is pinned to the version below; an upgrade fails here first.
 */
const pinned = '8.23.1';

describe('the guarded pg client (pg internals contract)', () => {
  it('runs on the pinned pg version', () => {
    const require = createRequire(import.meta.url);
    expect((require('pg/package.json') as { version: string }).version).toBe(pinned);
  });

  it('takes over the socket parser at connect, so every message, start-up included, passes the guard', async () => {
    const server = inject('postgres');
    const Client = guardedClient(1024 * 1024);
    const client = new Client({ ...server, database: 'postgres' });
    await client.connect();
    try {
      const connected = guardedConnectionOf(client);
      expect(connected).toBeDefined();
      const stream = (client as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream;
      // The guard's own listener is the only one left: pg's parser is fed through it.
      expect(stream.listeners('data')).toHaveLength(1);
      expect((await client.query('SELECT 6 * 7 AS answer')).rows).toEqual([{ answer: 42 }]);
    } finally {
      await client.end();
    }
  });

  it('fails the connect with the trip when a start-up message is over the bound', async () => {
    const server = inject('postgres');
    // Every server reports ParameterStatus messages of a few dozen bytes at start-up; a bound of 8 trips on the first.
    const Client = guardedClient(8);
    const client = new Client({ ...server, database: 'postgres' });
    const error = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as { guardTrip?: { messageType: string } }).guardTrip?.messageType).toBeDefined();
    await client.end().catch(() => undefined);
  });
});

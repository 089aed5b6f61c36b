import { describe, expect, it } from 'vitest';
import { ConnectionLimits } from '../../src/postgres/connection-limits.js';

describe('ConnectionLimits', () => {
  it('counts a connection against its integration and its server until it is released, once', () => {
    const limits = new ConnectionLimits({ perIntegration: 2, perServer: 3 });
    const a1 = limits.open('a', 'db:5432');
    const a2 = limits.open('a', 'db:5432');
    expect(limits.open('a', 'other:5432')).toBe('integration');
    const b1 = limits.open('b', 'db:5432');
    expect(limits.open('b', 'db:5432')).toBe('server');
    expect(typeof limits.open('b', 'other:5432')).toBe('object');
    expect([limits.openBy('a'), limits.openBy('b'), limits.openTo('db:5432'), limits.openTo('other:5432')]).toEqual([
      2, 2, 3, 1,
    ]);
    if (typeof a1 === 'string' || typeof a2 === 'string' || typeof b1 === 'string') throw new Error('expected slots');
    a1.release();
    a1.release();
    expect([limits.openBy('a'), limits.openTo('db:5432')]).toEqual([1, 2]);
    expect(typeof limits.open('a', 'db:5432')).toBe('object');
  });

  it('wakes those waiting for room when a connection is released, and tells the others their time is up', async () => {
    const limits = new ConnectionLimits({ perIntegration: 1, perServer: 1 });
    const slot = limits.open('a', 'db:5432');
    if (typeof slot === 'string') throw new Error('expected a slot');
    expect(await limits.waitForRoom(1)).toBe(false);
    const waiting = limits.waitForRoom(60_000);
    slot.release();
    expect(await waiting).toBe(true);
  });
});

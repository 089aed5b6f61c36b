import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RotationWaits, type RotationWaitEnd, type WaitEvent } from '../../src/credentials/rotation-waits.js';

const KEY = 'getSecrets\u0000default\u0000{}';

interface Creds {
  connectionKey: string;
}

/**
 * A secret store and a database, as the waits see them: what the store returns (each load is
 * recorded, and announced to the waits as the cache does), and which credentials the database takes.
 */
function world(rotation: RotationWaits<Creds>, stored: string, accepted: string) {
  let failing = false;
  let cached: string | undefined = stored;
  const loadedAt: number[] = [];
  const load = (): Promise<Creds> => {
    rotation.loadStarting(KEY);
    loadedAt.push(Date.now());
    if (failing) return Promise.reject(new Error('store down'));
    cached = stored;
    return Promise.resolve({ connectionKey: stored });
  };
  return {
    loadedAt,
    store(key: string) {
      stored = key;
    },
    database(key: string) {
      accepted = key;
    },
    fail(on: boolean) {
      failing = on;
    },
    load,
    /** A query as query-integration runs it: wait, try what the wait gives, wait again when refused. */
    async query(until: number): Promise<RotationWaitEnd<Creds> & { fetchesTotal: number }> {
      let fetchesTotal = 0;
      for (;;) {
        const end = await rotation.wait(KEY, {
          refused: cached ?? stored,
          until,
          current: () => (cached === undefined ? undefined : { connectionKey: cached }),
          fetch: () => load(),
        });
        fetchesTotal += end.fetches;
        if (end.outcome !== 'rotated' && end.outcome !== 'probe') return { ...end, fetchesTotal };
        if (end.resolved.connectionKey === accepted) {
          rotation.worked(KEY, end.resolved);
          return { ...end, outcome: 'rotated', fetchesTotal };
        }
        cached = end.resolved.connectionKey;
      }
    },
  };
}

function waits() {
  const fetches: string[] = [];
  const events: WaitEvent[] = [];
  const rotation = new RotationWaits<Creds>({
    onFetch: (_key, result) => fetches.push(result),
    onWait: (_key, event) => events.push(event),
  });
  rotation.worked(KEY, { connectionKey: 'old' });
  return { rotation, fetches, events };
}

describe('RotationWaits', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00.000Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('serves every waiter from one loop of loads, spaced 250 ms and growing by half up to 1 s, until the store changes (database first)', async () => {
    const { rotation, fetches, events } = waits();
    const w = world(rotation, 'old', 'new');
    const start = Date.now();
    const until = start + 10_000;
    const first = w.query(until);
    expect(rotation.pendingSince(KEY)).toBe(start);
    expect(rotation.isWaitingOut(KEY, 'old')).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    const second = w.query(until);
    await vi.advanceTimersByTimeAsync(2_000);
    w.store('new');
    await vi.advanceTimersByTimeAsync(1_000);
    const [a, b] = await Promise.all([first, second]);

    const gaps = w.loadedAt.slice(1).map((at, i) => at - w.loadedAt[i]!);
    // 0, 375, 938, 1783, 2783 (the store changes at 3000), 3783.
    expect(w.loadedAt[0]! - start).toBe(0);
    expect(gaps).toEqual([375, 563, 845, 1000, 1000]);
    expect(a).toMatchObject({ outcome: 'rotated', resolved: { connectionKey: 'new' }, fetchesTotal: 6 });
    expect(b).toMatchObject({ outcome: 'rotated', resolved: { connectionKey: 'new' }, fetchesTotal: 3 });
    expect(fetches).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged', 'changed']);
    expect(events).toEqual([{ type: 'start' }, { type: 'end', outcome: 'rotated', fetches: 6, durationMs: 3783 }]);
    expect(rotation.pendingSince(KEY)).toBeUndefined();
  });

  it('ends the wait when the refused credentials work again (the store changed first, the database follows)', async () => {
    const { rotation, events } = waits();
    // The agent already holds the store's new credentials; the database does not know them yet.
    const w = world(rotation, 'new', 'old');
    const until = Date.now() + 10_000;
    const queries = [w.query(until), w.query(until), w.query(until)];
    await vi.advanceTimersByTimeAsync(1_200);
    expect(rotation.pendingSince(KEY)).toBeDefined();
    w.database('new');
    await vi.advanceTimersByTimeAsync(1_000);
    const ends = await Promise.all(queries);
    expect(ends.map((e) => e.outcome)).toEqual(['rotated', 'rotated', 'rotated']);
    expect(ends.every((e) => e.outcome === 'rotated' && e.resolved.connectionKey === 'new')).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'end', outcome: 'rotated' });
    expect(rotation.pendingSince(KEY)).toBeUndefined();
  });

  it('lets each waiter leave at its own deadline, ends the wait with the last one, and loads no more', async () => {
    const { rotation, events } = waits();
    const w = world(rotation, 'old', 'new');
    const start = Date.now();
    const short = w.query(start + 600);
    const long = w.query(start + 1_500);
    await vi.advanceTimersByTimeAsync(600);
    await expect(short).resolves.toMatchObject({ outcome: 'timeout' });
    expect(rotation.pendingSince(KEY)).toBe(start);
    await vi.advanceTimersByTimeAsync(900);
    const ended = await long;
    expect(ended.outcome).toBe('timeout');
    expect(ended.fetchesTotal).toBe(w.loadedAt.length);
    // Over at once, not when the loop next wakes.
    expect(rotation.pendingSince(KEY)).toBeUndefined();
    const loads = w.loadedAt.length;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(w.loadedAt.length).toBe(loads);
    expect(events.at(-1)).toMatchObject({ type: 'end', outcome: 'abandoned', fetches: loads });
  });

  it('ends a wait whose caller went away, also when it was gone before the wait began', async () => {
    const { rotation } = waits();
    const w = world(rotation, 'old', 'new');
    const until = Date.now() + 5_000;
    let cancel = (): void => undefined;
    const stop = vi.fn();
    const request = { refused: 'old', until, current: () => undefined, fetch: w.load };
    // The key was loaded just now: the wait's first load is 250 ms away.
    rotation.loadStarting(KEY);
    const waiting = rotation.wait(KEY, {
      ...request,
      cancelled: (c) => {
        cancel = c;
        return stop;
      },
    });
    await vi.advanceTimersByTimeAsync(100);
    cancel();
    await expect(waiting).resolves.toMatchObject({ outcome: 'cancelled' });
    expect(stop).toHaveBeenCalledTimes(1);

    const stopGone = vi.fn();
    const gone = rotation.wait(KEY, {
      ...request,
      cancelled: (c) => {
        c();
        return stopGone;
      },
    });
    await expect(gone).resolves.toEqual({ outcome: 'cancelled', fetches: 0 });
    expect(stopGone).toHaveBeenCalledTimes(1);
    expect(rotation.pendingSince(KEY)).toBeUndefined();
  });

  it('waits out a failing store like an unchanged one, and takes new credentials another load brought without loading', async () => {
    const { rotation, fetches } = waits();
    const w = world(rotation, 'old', 'new');
    w.fail(true);
    const waiting = w.query(Date.now() + 10_000);
    await vi.advanceTimersByTimeAsync(700);
    expect(fetches.slice(0, 2)).toEqual(['error', 'error']);
    // A background refresh (outside the wait) brings the new credentials into the cache.
    w.fail(false);
    w.store('new');
    await w.load();
    const loads = w.loadedAt.length;
    await vi.advanceTimersByTimeAsync(2_000);
    await expect(waiting).resolves.toMatchObject({ outcome: 'rotated', resolved: { connectionKey: 'new' } });
    expect(w.loadedAt.length).toBe(loads);
  });

  it('spaces the loads for repeated refusals of the same credentials, counting every load of the key, and remembers which keys ever worked', async () => {
    const rotation = new RotationWaits<Creds>({});
    // A load just happened (a cold start, a refresh): the first refusal of its credentials may load again.
    rotation.loadStarting(KEY);
    expect(rotation.mayLoad(KEY, 'k1')).toBe(true);
    rotation.loadStarting(KEY);
    rotation.loadFound(KEY, false);
    // The same credentials refused again: not before the spacing has passed.
    expect(rotation.mayLoad(KEY, 'k1')).toBe(false);
    await vi.advanceTimersByTimeAsync(374);
    expect(rotation.mayLoad(KEY, 'k1')).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(rotation.mayLoad(KEY, 'k1')).toBe(true);
    rotation.loadStarting(KEY);
    rotation.loadFound(KEY, true);
    // Other credentials refused: a first refusal again.
    expect(rotation.mayLoad(KEY, 'k2')).toBe(true);
    rotation.loadStarting(KEY);
    expect(rotation.mayLoad(KEY, 'k2')).toBe(false);
    await vi.advanceTimersByTimeAsync(250);
    expect(rotation.mayLoad(KEY, 'k2')).toBe(true);

    expect(rotation.hasWorked(KEY)).toBe(false);
    rotation.worked(KEY, { connectionKey: 'k' });
    expect(rotation.hasWorked(KEY)).toBe(true);
    expect(rotation.hasWorked('another')).toBe(false);
  });

  it('keeps waiting when a log or metric hook throws', async () => {
    const rotation = new RotationWaits<Creds>({
      onWait: () => {
        throw new Error('log full');
      },
      onFetch: () => {
        throw new Error('metric broken');
      },
    });
    rotation.worked(KEY, { connectionKey: 'old' });
    const w = world(rotation, 'old', 'new');
    const waiting = w.query(Date.now() + 5_000);
    await vi.advanceTimersByTimeAsync(500);
    w.store('new');
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(waiting).resolves.toMatchObject({ outcome: 'rotated', resolved: { connectionKey: 'new' } });
    expect(rotation.pendingSince(KEY)).toBeUndefined();
  });
});

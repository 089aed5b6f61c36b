import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RotationWaits, type WaitEvent } from '../../src/credentials/rotation-waits.js';

const KEY = 'getSecrets\u0000default\u0000{}';

interface Creds {
  connectionKey: string;
}

/** A store whose answers the test sets; it records when each fetch started (fake time). */
function fakeStore(initial: string) {
  let current = initial;
  let failing = false;
  const fetchedAt: number[] = [];
  return {
    fetchedAt,
    set(connectionKey: string) {
      current = connectionKey;
    },
    fail(on: boolean) {
      failing = on;
    },
    fetch: (): Promise<Creds> => {
      fetchedAt.push(Date.now());
      return failing ? Promise.reject(new Error('store down')) : Promise.resolve({ connectionKey: current });
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
  return { rotation, fetches, events };
}

describe('RotationWaits', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00.000Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('serves every waiter from one loop of fetches, spaced 250 ms and growing by half up to 1 s, until the store changes', async () => {
    const { rotation, fetches, events } = waits();
    const store = fakeStore('old');
    const start = Date.now();
    const until = start + 10_000;
    const first = rotation.wait(KEY, { refused: 'old', until, fetch: store.fetch });
    expect(rotation.pendingSince(KEY)).toBe(start);
    expect(rotation.isWaitingOut(KEY, 'old')).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    // Joins the wait in progress: no loop of its own, and its fetch is never used.
    const unused = vi.fn(store.fetch);
    const second = rotation.wait(KEY, { refused: 'old', until, fetch: unused });
    await vi.advanceTimersByTimeAsync(2_000);
    store.set('new');
    await vi.advanceTimersByTimeAsync(1_000);
    const [a, b] = await Promise.all([first, second]);

    const gaps = store.fetchedAt.slice(1).map((at, i) => at - store.fetchedAt[i]!);
    expect(store.fetchedAt[0]! - start).toBe(0);
    // 0, 375, 938, 1783, 2783 (the store changes at 3000), 3783.
    expect(gaps).toEqual([375, 563, 845, 1000, 1000]);
    expect(unused).not.toHaveBeenCalled();
    expect(a).toEqual({ outcome: 'rotated', resolved: { connectionKey: 'new' }, fetches: store.fetchedAt.length });
    expect(b).toEqual({ outcome: 'rotated', resolved: { connectionKey: 'new' }, fetches: 3 });
    expect(fetches.at(-1)).toBe('changed');
    expect(fetches.slice(0, -1).every((f) => f === 'unchanged')).toBe(true);
    expect(events).toEqual([
      { type: 'start' },
      { type: 'end', outcome: 'rotated', fetches: 6, durationMs: store.fetchedAt.at(-1)! - start },
    ]);
    expect(rotation.pendingSince(KEY)).toBeUndefined();
  });

  it('lets each waiter leave at its own deadline, with how often the store was asked meanwhile, and stops fetching once none is left', async () => {
    const { rotation, events } = waits();
    const store = fakeStore('old');
    const start = Date.now();
    const short = rotation.wait(KEY, { refused: 'old', until: start + 600, fetch: store.fetch });
    const long = rotation.wait(KEY, { refused: 'old', until: start + 1_500, fetch: store.fetch });
    await vi.advanceTimersByTimeAsync(600);
    await expect(short).resolves.toEqual({ outcome: 'timeout', fetches: 2 });
    expect(rotation.pendingSince(KEY)).toBe(start);
    await vi.advanceTimersByTimeAsync(900);
    const ended = await long;
    expect(ended.outcome).toBe('timeout');
    expect(ended.fetches).toBe(store.fetchedAt.length);
    const asked = store.fetchedAt.length;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(store.fetchedAt.length).toBe(asked);
    expect(rotation.pendingSince(KEY)).toBeUndefined();
    expect(events.at(-1)).toMatchObject({ type: 'end', outcome: 'abandoned', fetches: asked });
  });

  it('ends a wait whose caller went away, also when it was gone before the wait began', async () => {
    const { rotation } = waits();
    const store = fakeStore('old');
    const until = Date.now() + 5_000;
    let cancel = (): void => undefined;
    const stop = vi.fn();
    const waiting = rotation.wait(KEY, {
      refused: 'old',
      until,
      fetch: store.fetch,
      cancelled: (c) => {
        cancel = c;
        return stop;
      },
    });
    await vi.advanceTimersByTimeAsync(300);
    cancel();
    await expect(waiting).resolves.toMatchObject({ outcome: 'cancelled' });
    expect(stop).toHaveBeenCalledTimes(1);

    const stopGone = vi.fn();
    const gone = rotation.wait(KEY, {
      refused: 'old',
      until,
      fetch: store.fetch,
      cancelled: (c) => {
        c();
        return stopGone;
      },
    });
    await expect(gone).resolves.toEqual({ outcome: 'cancelled', fetches: 0 });
    expect(stopGone).toHaveBeenCalledTimes(1);
  });

  it('waits out a failing store like an unchanged one, and treats credentials refused during the wait as no news', async () => {
    const { rotation, fetches } = waits();
    const store = fakeStore('old');
    store.fail(true);
    const until = Date.now() + 10_000;
    const waiting = rotation.wait(KEY, { refused: 'old', until, fetch: store.fetch });
    await vi.advanceTimersByTimeAsync(700);
    store.fail(false);
    store.set('middle');
    // A query refused the credentials the store returns now joins the wait: they are no news either.
    const joined = rotation.wait(KEY, { refused: 'middle', until, fetch: store.fetch });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(rotation.pendingSince(KEY)).toBeDefined();
    store.set('new');
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(waiting).resolves.toMatchObject({ outcome: 'rotated', resolved: { connectionKey: 'new' } });
    await expect(joined).resolves.toMatchObject({ outcome: 'rotated' });
    expect(fetches.slice(0, 2)).toEqual(['error', 'error']);
    expect(fetches).toContain('unchanged');
    expect(fetches.at(-1)).toBe('changed');
  });

  it('spaces the fetches auth failures make outside a wait the same way, and remembers which keys ever worked', async () => {
    const { rotation } = waits();
    expect(rotation.mayFetch(KEY)).toBe(true);
    rotation.fetchStarting(KEY);
    expect(rotation.mayFetch(KEY)).toBe(false);
    rotation.fetchFound(KEY, false);
    await vi.advanceTimersByTimeAsync(374);
    expect(rotation.mayFetch(KEY)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(rotation.mayFetch(KEY)).toBe(true);
    rotation.fetchStarting(KEY);
    rotation.fetchFound(KEY, true);
    await vi.advanceTimersByTimeAsync(249);
    expect(rotation.mayFetch(KEY)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(rotation.mayFetch(KEY)).toBe(true);

    expect(rotation.hasWorked(KEY)).toBe(false);
    rotation.worked(KEY);
    expect(rotation.hasWorked(KEY)).toBe(true);
    expect(rotation.hasWorked('another')).toBe(false);
  });
});

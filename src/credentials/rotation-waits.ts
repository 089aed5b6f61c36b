/** What a fetch brings: credentials, known by their connection key. */
interface Credentials {
  connectionKey: string;
}

/**
 * How one query's wait for new credentials ended: `rotated` (other credentials came, or the
 * refused ones work again), `probe` (try the refused ones once more: the database may have caught
 * up), or it left at its deadline or when its caller went away.
 */
export type RotationWaitEnd<R extends Credentials> =
  | { outcome: 'rotated' | 'probe'; resolved: R; fetches: number }
  | { outcome: 'timeout' | 'cancelled'; fetches: number };

export type WaitEvent =
  { type: 'start' } | { type: 'end'; outcome: 'rotated' | 'abandoned'; fetches: number; durationMs: number };

/** Lets a caller that goes away end its wait early; returns what stops listening. */
export type CancelHook = (cancel: () => void) => () => void;

/** What a query that waits gives. */
export interface WaitRequest<R extends Credentials> {
  /** The connection key of the credentials the database refused. */
  refused: string;
  /** When the wait ends at the latest (ms since the epoch). */
  until: number;
  cancelled?: CancelHook | undefined;
  /** The credentials cached now, if any (no workflow run). */
  current(): R | undefined;
  /** The key's response as loaded by a load that started at `notBefore` or later (a workflow run, unless one is under way). */
  fetch(notBefore: number): Promise<R>;
}

export interface RotationWaitsOptions {
  /** After each fetch a wait makes, with what it found. */
  onFetch?(keyId: string, result: 'changed' | 'unchanged' | 'error'): void;
  /** When a key's wait begins, and when it ends: new credentials came, or every waiter left before. */
  onWait?(keyId: string, event: WaitEvent): void;
  /** Loads of one key are this far apart at least; the gap grows by half while they find nothing new. */
  minIntervalMs?: number;
  maxIntervalMs?: number;
  now?: () => number;
}

/** One query waiting: how it is answered, and the fetch count when it joined. */
interface Waiter<R extends Credentials> {
  settle(end: RotationWaitEnd<R>): void;
  fetchesAtJoin: number;
}

/** The wait of one key: shared by every query refused the same credentials while it lasts. */
interface PendingWait<R extends Credentials> {
  since: number;
  /** Connection keys the database refused: a fetch returning one of them is no news. */
  refused: Set<string>;
  waiters: Set<Waiter<R>>;
  fetches: number;
  /** Set once it is over: the waiters got credentials that work, or the last one gave up. */
  ended?: boolean;
}

/** What is known of one cache key's credentials under rotation. */
interface KeyGate<R extends Credentials> {
  /** A query succeeded with credentials of this key since the agent started. */
  worked: boolean;
  /** The credentials (connection key) an auth failure last named. */
  lastRefused: string | undefined;
  /** When the last load of the key started, and when the next one for an auth failure may. */
  lastLoadAt: number;
  nextLoadAt: number;
  intervalMs: number;
  pending: PendingWait<R> | undefined;
}

/**
 * The rotation window: the database already has a new password, the secret store still returns
 * the old one. Queries refused by the database wait here, per cache key, for one shared loop that
 * loads the credentials again, no sooner than `minIntervalMs` after the key's last load (growing to
 * `maxIntervalMs` while the store returns nothing new), until a load returns credentials other than
 * the refused ones; every waiter then gets them. After each load that finds nothing new, the
 * longest-waiting query tries the refused credentials once more (the database may have caught up
 * with a store that changed first); when one succeeds, every waiter gets them. Each waiter leaves at
 * its own deadline. Every load of the key (background refreshes included) counts for the spacing,
 * and so a store that keeps returning refused credentials is never asked more often than that.
 */
export class RotationWaits<R extends Credentials> {
  private readonly gates = new Map<string, KeyGate<R>>();
  private readonly now: () => number;
  private readonly minIntervalMs: number;
  private readonly maxIntervalMs: number;

  constructor(private readonly options: RotationWaitsOptions) {
    this.now = options.now ?? Date.now;
    this.minIntervalMs = options.minIntervalMs ?? 250;
    this.maxIntervalMs = Math.max(this.minIntervalMs, options.maxIntervalMs ?? 1000);
  }

  /** Records that a query succeeded with `resolved`; if a wait was refused them, they work again: it ends. */
  worked(keyId: string, resolved: R): void {
    const gate = this.gate(keyId);
    if (!gate.worked) gate.worked = true;
    const pending = gate.pending;
    if (pending?.refused.has(resolved.connectionKey)) this.release(keyId, gate, pending, resolved);
  }

  hasWorked(keyId: string): boolean {
    return this.gates.get(keyId)?.worked ?? false;
  }

  /** Records that a load of the key starts now (whoever starts it). */
  loadStarting(keyId: string): void {
    const gate = this.gate(keyId);
    gate.lastLoadAt = this.now();
    gate.nextLoadAt = Math.max(gate.nextLoadAt, gate.lastLoadAt + gate.intervalMs);
  }

  /**
   * Whether an auth failure of credentials with `refused` (a connection key) may load the key's
   * credentials now: when the last load is far enough back, or when these credentials were not
   * refused before (the store may well have others already; only repeated refusals are spaced).
   */
  mayLoad(keyId: string, refused: string): boolean {
    const gate = this.gate(keyId);
    const known = gate.lastRefused === refused;
    gate.lastRefused = refused;
    return !known || this.now() >= gate.nextLoadAt;
  }

  /** Records what a load for an auth failure found: other credentials (the gap shrinks back) or the refused ones (it grows). */
  loadFound(keyId: string, changed: boolean): void {
    this.spaceAfter(this.gate(keyId), changed);
  }

  /** When the current wait of the key began (undefined: none). */
  pendingSince(keyId: string): number | undefined {
    return this.gates.get(keyId)?.pending?.since;
  }

  /** Whether a wait of the key is going on for these refused credentials. */
  isWaitingOut(keyId: string, connectionKey: string): boolean {
    return this.gates.get(keyId)?.pending?.refused.has(connectionKey) ?? false;
  }

  /**
   * Waits until a load of the key returns credentials other than `refused` (and those the wait in
   * progress was refused), until the refused ones work again, until `until`, until the caller
   * cancels, or until it is picked to probe. The first query to wait starts the loop, with its
   * `fetch` and `current`; later ones join it.
   */
  wait(keyId: string, request: WaitRequest<R>): Promise<RotationWaitEnd<R>> {
    const gate = this.gate(keyId);
    const joined = gate.pending;
    const wait: PendingWait<R> = joined ?? { since: this.now(), refused: new Set(), waiters: new Set(), fetches: 0 };
    gate.pending = wait;
    wait.refused.add(request.refused);
    const ended = new Promise<RotationWaitEnd<R>>((resolve) => {
      // Set once the hook returns: a cancel during the call finds nothing to stop yet.
      const listening: { stop?: (() => void) | undefined } = {};
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter<R> = {
        fetchesAtJoin: wait.fetches,
        settle: (end) => {
          if (!wait.waiters.delete(waiter)) return;
          clearTimeout(timer);
          listening.stop?.();
          // The last one gave up: the wait is over now (its loop ends when it next wakes). A probe
          // comes back to the same wait when the refused credentials are refused again.
          const gaveUp = end.outcome === 'timeout' || end.outcome === 'cancelled';
          if (gaveUp && wait.waiters.size === 0) this.finish(keyId, gate, wait, 'abandoned');
          resolve(end);
        },
      };
      const leave = (outcome: 'timeout' | 'cancelled') =>
        waiter.settle({ outcome, fetches: wait.fetches - waiter.fetchesAtJoin });
      wait.waiters.add(waiter);
      // A timer may fire a little before the clock reaches `until`: the bound is waited in full.
      const leaveAtDeadline = () => {
        const left = request.until - this.now();
        if (left > 0) timer = setTimeout(leaveAtDeadline, left);
        else leave('timeout');
      };
      leaveAtDeadline();
      listening.stop = request.cancelled?.(() => leave('cancelled'));
      if (!wait.waiters.has(waiter)) listening.stop?.();
    });
    // Started once its first waiter is in: the loop ends when none is left.
    if (!joined && wait.waiters.size > 0) {
      this.fetchUntilChanged(keyId, gate, wait, request).catch(() => this.finish(keyId, gate, wait, 'abandoned'));
      this.emit(keyId, { type: 'start' });
    }
    return ended;
  }

  private gate(keyId: string): KeyGate<R> {
    let gate = this.gates.get(keyId);
    if (!gate) {
      gate = {
        worked: false,
        lastRefused: undefined,
        lastLoadAt: 0,
        nextLoadAt: 0,
        intervalMs: this.minIntervalMs,
        pending: undefined,
      };
      this.gates.set(keyId, gate);
    }
    return gate;
  }

  private spaceAfter(gate: KeyGate<R>, changed: boolean): void {
    gate.intervalMs = changed ? this.minIntervalMs : Math.min(this.maxIntervalMs, Math.round(gate.intervalMs * 1.5));
    gate.nextLoadAt = gate.lastLoadAt + gate.intervalMs;
  }

  /** Every waiter gets `resolved`; the wait is over. */
  private release(keyId: string, gate: KeyGate<R>, pending: PendingWait<R>, resolved: R): void {
    this.finish(keyId, gate, pending, 'rotated');
    for (const waiter of [...pending.waiters])
      waiter.settle({ outcome: 'rotated', resolved, fetches: pending.fetches - waiter.fetchesAtJoin });
  }

  /** The wait is over (once): new queries refused start another. */
  private finish(keyId: string, gate: KeyGate<R>, pending: PendingWait<R>, outcome: 'rotated' | 'abandoned'): void {
    if (pending.ended) return;
    pending.ended = true;
    if (gate.pending === pending) gate.pending = undefined;
    this.emit(keyId, { type: 'end', outcome, fetches: pending.fetches, durationMs: this.now() - pending.since });
  }

  /** The loop of one wait: ends when the waiters got credentials that work, or the last one has left. */
  private async fetchUntilChanged(
    keyId: string,
    gate: KeyGate<R>,
    pending: PendingWait<R>,
    { current, fetch }: WaitRequest<R>,
  ): Promise<void> {
    for (;;) {
      // Slept until the key may be loaded again; another load in the meantime moves that on.
      for (let delay = gate.nextLoadAt - this.now(); delay > 0; delay = gate.nextLoadAt - this.now()) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (pending.waiters.size === 0) break;
      }
      if (pending.waiters.size === 0) break;
      // A load someone else made (a refresh) may already have brought other credentials.
      const cached = current();
      if (cached && !pending.refused.has(cached.connectionKey)) {
        this.release(keyId, gate, pending, cached);
        break;
      }
      const resolved = await fetch(gate.lastLoadAt + 1).catch(() => undefined);
      pending.fetches += 1;
      // A failing store is waited out like an unchanged one: the waiters' deadlines still hold.
      const changed = resolved !== undefined && !pending.refused.has(resolved.connectionKey);
      this.spaceAfter(gate, changed);
      this.emitFetch(keyId, resolved === undefined ? 'error' : changed ? 'changed' : 'unchanged');
      if (resolved && changed) {
        this.release(keyId, gate, pending, resolved);
        break;
      }
      // The store still returns refused credentials: the database may have caught up with them.
      const [oldest] = pending.waiters;
      if (resolved && oldest && gate.pending === pending)
        oldest.settle({ outcome: 'probe', resolved, fetches: pending.fetches - oldest.fetchesAtJoin });
    }
    this.finish(keyId, gate, pending, 'abandoned');
  }

  /** Hooks log and count: should one throw, the wait goes on regardless. */
  private emit(keyId: string, event: WaitEvent): void {
    try {
      this.options.onWait?.(keyId, event);
    } catch {
      // A log line is not worth a query.
    }
  }

  private emitFetch(keyId: string, result: 'changed' | 'unchanged' | 'error'): void {
    try {
      this.options.onFetch?.(keyId, result);
    } catch {
      // Nor is a metric.
    }
  }
}

/** What a fetch brings: credentials, known by their connection key. */
interface Credentials {
  connectionKey: string;
}

/** How one query's wait for new credentials ended. */
export type RotationWaitEnd<R extends Credentials> =
  { outcome: 'rotated'; resolved: R; fetches: number } | { outcome: 'timeout' | 'cancelled'; fetches: number };

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
  /** Loads the key's response again (a workflow run) and renders it; used by the wait this query starts. */
  fetch(): Promise<R>;
}

export interface RotationWaitsOptions {
  /** After each fetch a wait makes, with what it found. */
  onFetch?(keyId: string, result: 'changed' | 'unchanged' | 'error'): void;
  /** When a key's wait begins, and when it ends: new credentials came, or every waiter left before. */
  onWait?(keyId: string, event: WaitEvent): void;
  /** Fetches for one key are this far apart at least; the gap grows by half while they find nothing new. */
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
}

/** What is known of one cache key's credentials under rotation. */
interface KeyGate<R extends Credentials> {
  /** A query succeeded with credentials of this key since the agent started. */
  worked: boolean;
  /** When the last fetch for an auth failure started, and when the next may. */
  lastFetchAt: number;
  nextFetchAt: number;
  intervalMs: number;
  pending: PendingWait<R> | undefined;
}

/**
 * The rotation window: the database already has a new password, the secret store still returns
 * the old one. Queries refused by the database wait here, per cache key, for one shared loop that
 * fetches the credentials again, no more often than every `minIntervalMs` (growing to
 * `maxIntervalMs` while the store returns nothing new), until a fetch returns credentials other
 * than the refused ones; every waiter then gets them. Each waiter leaves at its own deadline. The
 * same gate spaces the single reload a refused query makes before it waits, so a store that keeps
 * returning refused credentials is never asked more often than that, waiting or not.
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

  /** Records that a query succeeded with the key's credentials. */
  worked(keyId: string): void {
    const gate = this.gate(keyId);
    if (!gate.worked) gate.worked = true;
  }

  hasWorked(keyId: string): boolean {
    return this.gates.get(keyId)?.worked ?? false;
  }

  /** Whether an auth failure may fetch the key's credentials now (the last such fetch is far enough back). */
  mayFetch(keyId: string): boolean {
    return this.now() >= (this.gates.get(keyId)?.nextFetchAt ?? 0);
  }

  /** Records that a fetch for an auth failure, outside a wait, starts now. */
  fetchStarting(keyId: string): void {
    const gate = this.gate(keyId);
    gate.lastFetchAt = this.now();
    gate.nextFetchAt = gate.lastFetchAt + gate.intervalMs;
  }

  /** Records what that fetch found: other credentials (the gap shrinks back) or the refused ones (it grows). */
  fetchFound(keyId: string, changed: boolean): void {
    const gate = this.gate(keyId);
    this.spaceAfter(gate, gate.lastFetchAt, changed);
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
   * Waits until a fetch of the key returns credentials other than `refused` (and those the wait in
   * progress was refused), until `until`, or until the caller cancels. The first query to wait
   * starts the loop, with its `fetch`; later ones join it.
   */
  wait(keyId: string, { refused, until, cancelled, fetch }: WaitRequest<R>): Promise<RotationWaitEnd<R>> {
    const gate = this.gate(keyId);
    const joined = gate.pending;
    const wait: PendingWait<R> = joined ?? { since: this.now(), refused: new Set(), waiters: new Set(), fetches: 0 };
    gate.pending = wait;
    wait.refused.add(refused);
    const ended = new Promise<RotationWaitEnd<R>>((resolve) => {
      // Set once the hook returns: a cancel during the call finds nothing to stop yet.
      const listening: { stop?: (() => void) | undefined } = {};
      const waiter: Waiter<R> = {
        fetchesAtJoin: wait.fetches,
        settle: (end) => {
          if (!wait.waiters.delete(waiter)) return;
          clearTimeout(timer);
          listening.stop?.();
          resolve(end);
        },
      };
      const leave = (outcome: 'timeout' | 'cancelled') =>
        waiter.settle({ outcome, fetches: wait.fetches - waiter.fetchesAtJoin });
      wait.waiters.add(waiter);
      // A timer may fire a little before the clock reaches `until`: the bound is waited in full.
      let timer: NodeJS.Timeout | undefined;
      const leaveAtDeadline = () => {
        const left = until - this.now();
        if (left > 0) timer = setTimeout(leaveAtDeadline, left);
        else leave('timeout');
      };
      leaveAtDeadline();
      listening.stop = cancelled?.(() => leave('cancelled'));
      if (!wait.waiters.has(waiter)) listening.stop?.();
    });
    // Started once its first waiter is in: the loop ends when none is left.
    if (!joined) {
      this.options.onWait?.(keyId, { type: 'start' });
      // It catches what a fetch throws; should a hook throw, the wait is over and waiters leave at their deadlines.
      this.fetchUntilChanged(keyId, gate, wait, fetch).catch(() => {
        if (gate.pending === wait) gate.pending = undefined;
      });
    }
    return ended;
  }

  private gate(keyId: string): KeyGate<R> {
    let gate = this.gates.get(keyId);
    if (!gate) {
      gate = { worked: false, lastFetchAt: 0, nextFetchAt: 0, intervalMs: this.minIntervalMs, pending: undefined };
      this.gates.set(keyId, gate);
    }
    return gate;
  }

  private spaceAfter(gate: KeyGate<R>, startedAt: number, changed: boolean): void {
    gate.intervalMs = changed ? this.minIntervalMs : Math.min(this.maxIntervalMs, Math.round(gate.intervalMs * 1.5));
    gate.nextFetchAt = startedAt + gate.intervalMs;
  }

  /** The loop of one wait: ends when a fetch brings new credentials or the last waiter has left. */
  private async fetchUntilChanged(
    keyId: string,
    gate: KeyGate<R>,
    pending: PendingWait<R>,
    fetch: () => Promise<R>,
  ): Promise<void> {
    let outcome: 'rotated' | 'abandoned' = 'abandoned';
    while (pending.waiters.size > 0) {
      const delay = gate.nextFetchAt - this.now();
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      if (pending.waiters.size === 0) break;
      // Spaced from this start whatever the fetch finds, so no auth failure fetches meanwhile.
      gate.lastFetchAt = this.now();
      gate.nextFetchAt = gate.lastFetchAt + gate.intervalMs;
      const resolved = await fetch().catch(() => undefined);
      pending.fetches += 1;
      // A failing store is waited out like an unchanged one: the waiters' deadlines still hold.
      const changed = resolved !== undefined && !pending.refused.has(resolved.connectionKey);
      this.spaceAfter(gate, gate.lastFetchAt, changed);
      this.options.onFetch?.(keyId, resolved === undefined ? 'error' : changed ? 'changed' : 'unchanged');
      if (resolved && changed) {
        outcome = 'rotated';
        for (const waiter of [...pending.waiters])
          waiter.settle({ outcome, resolved, fetches: pending.fetches - waiter.fetchesAtJoin });
        break;
      }
    }
    if (gate.pending === pending) gate.pending = undefined;
    this.options.onWait?.(keyId, {
      type: 'end',
      outcome,
      fetches: pending.fetches,
      durationMs: this.now() - pending.since,
    });
  }
}

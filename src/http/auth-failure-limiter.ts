import type { Logger } from 'pino';

export interface AuthFailureLimiterOptions {
  /** Failed authentications an address may make per window; the next requests get 429 until it ends. */
  limit: number;
  windowMs: number;
  /** Addresses tracked at most; a new one past this forgets the oldest. */
  maxAddresses: number;
  logger: Logger;
  now?: () => number;
}

interface Window {
  since: number;
  /** Failed authentications in this window (each had its own audit line). */
  failures: number;
  /** Requests answered 429 in this window, without checking their token. */
  refused: number;
}

/**
 * Failed authentications per client address, in fixed windows: the first `limit` failures of a
 * window are audited one by one; after them, the address's requests are refused without checking
 * their token until the window ends, and one summary line then says how many there were. So a
 * flood of bad tokens costs neither a hash nor a log line per request. Memory is bounded by
 * `maxAddresses`; windows are forgotten once they end.
 */
export class AuthFailureLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: AuthFailureLimiterOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Addresses currently tracked. */
  get size(): number {
    return this.windows.size;
  }

  /**
   * Whole seconds until `address` may authenticate again (at least 1), counting the request as
   * refused; 0 when it may now.
   */
  refuse(address: string): number {
    const window = this.current(address);
    if (window === undefined || window.failures < this.options.limit) return 0;
    window.refused += 1;
    return Math.max(1, Math.ceil((window.since + this.options.windowMs - this.now()) / 1000));
  }

  /** Counts a failed authentication of `address`. */
  failed(address: string): void {
    let window = this.current(address);
    if (window === undefined) {
      if (this.windows.size >= this.options.maxAddresses) {
        const oldest = this.windows.keys().next();
        if (!oldest.done) this.end(oldest.value);
      }
      window = { since: this.now(), failures: 0, refused: 0 };
      // Insertion order is the order of `since`: the first entry always ends first.
      this.windows.set(address, window);
      this.arm();
    }
    window.failures += 1;
  }

  /** Writes the summaries of windows still open and stops the timer. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const address of [...this.windows.keys()]) this.end(address);
  }

  private current(address: string): Window | undefined {
    const window = this.windows.get(address);
    if (window !== undefined && this.now() >= window.since + this.options.windowMs) {
      this.end(address);
      return undefined;
    }
    return window;
  }

  private end(address: string): void {
    const window = this.windows.get(address);
    if (window === undefined) return;
    this.windows.delete(address);
    if (window.refused === 0) return;
    const seconds = Math.max(
      1,
      Math.round((Math.min(this.now(), window.since + this.options.windowMs) - window.since) / 1000),
    );
    this.options.logger.warn(
      {
        event: 'audit',
        action: 'access',
        outcome: 'rate_limited',
        address,
        failures: window.failures,
        refused: window.refused,
        windowSeconds: seconds,
      },
      `${window.refused} requests from ${address} refused with 429 in the last ${seconds} s, after ${window.failures} failed authentications`,
    );
  }

  /** One timer at a time, for the window that ends first; it ends the windows due and re-arms. */
  private arm(): void {
    if (this.timer !== undefined) return;
    const first = this.windows.values().next();
    if (first.done) return;
    const due = Math.max(0, first.value.since + this.options.windowMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = this.now();
      for (const [address, window] of this.windows) {
        if (now < window.since + this.options.windowMs) break;
        this.end(address);
      }
      this.arm();
    }, due + 1);
    this.timer.unref();
  }
}

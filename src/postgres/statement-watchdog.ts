/**
 * Cancels statements that outlive their deadline. One timer sweeps every watched statement once a
 * second (and only while there are some), instead of a timer per query on the hot path; a statement
 * is cancelled between its deadline and a second after it.
 */
export class StatementWatchdog {
  private readonly watched = new Set<{ deadline: number; cancel: () => void }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sweepMs = 1000) {}

  /** Watches a statement; call the returned function when it is done. */
  watch(deadline: number, cancel: () => void): () => void {
    const entry = { deadline, cancel };
    this.watched.add(entry);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.sweepMs);
      this.timer.unref();
    }
    return () => {
      this.watched.delete(entry);
    };
  }

  private sweep(): void {
    const now = Date.now();
    for (const entry of this.watched) {
      if (entry.deadline > now) continue;
      this.watched.delete(entry);
      entry.cancel();
    }
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

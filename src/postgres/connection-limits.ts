export interface ConnectionLimitsOptions {
  /** Connections one integration may hold over all its pools: every profile, current and draining. */
  perIntegration: number;
  /** Connections all pools together may hold to one server (`host:port`). */
  perServer: number;
}

/** Which limit a connection would pass. */
export type ConnectionLimitKind = 'integration' | 'server';

/** A connection counted against the limits; released once, when its socket has closed. */
export interface ConnectionSlot {
  release(): void;
}

/**
 * Counts the agent's open PostgreSQL connections by integration and by server, whichever pool they
 * belong to, so a pool retired while its queries run still counts until its connections close.
 * PostgreSQL's `max_connections` is per server, hence the second key. A connection is counted from
 * the moment it starts to connect until its socket closes.
 */
export class ConnectionLimits {
  private readonly byIntegration = new Map<string, number>();
  private readonly byServer = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  constructor(readonly options: ConnectionLimitsOptions) {}

  /** Counts a connection about to open, or names the limit it would pass (nothing is counted then). */
  open(integration: string, server: string): ConnectionSlot | ConnectionLimitKind {
    const byIntegration = this.byIntegration.get(integration) ?? 0;
    if (byIntegration >= this.options.perIntegration) return 'integration';
    const byServer = this.byServer.get(server) ?? 0;
    if (byServer >= this.options.perServer) return 'server';
    this.byIntegration.set(integration, byIntegration + 1);
    this.byServer.set(server, byServer + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        decrement(this.byIntegration, integration);
        decrement(this.byServer, server);
        const woken = [...this.waiters];
        this.waiters.clear();
        for (const wake of woken) wake();
      },
    };
  }

  /** Resolves true when any counted connection closes, false when `ms` pass first. */
  waitForRoom(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve(false);
      }, ms);
      this.waiters.add(wake);
    });
  }

  /** Open connections of an integration (all its pools). */
  openBy(integration: string): number {
    return this.byIntegration.get(integration) ?? 0;
  }

  /** Open connections of all pools to a server. */
  openTo(server: string): number {
    return this.byServer.get(server) ?? 0;
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const next = (counts.get(key) ?? 0) - 1;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}

import { AwsServiceError } from '../../../src/local-secrets-manager/index.js';

/** Faults applied to matching requests until cleared or replaced. */
export interface Faults {
  /** Delay before answering (also before a fault's answer). */
  latencyMs?: number;
  /** Answer ThrottlingException (HTTP 400, "Rate exceeded") to the next N requests; Infinity = all. */
  throttle?: number;
  /** Answer InternalServiceError (HTTP 500) to the next N requests, after any throttling ones. */
  serverError?: number;
  /** Destroy the socket without answering (the client sees a connection reset). */
  down?: boolean;
  /** Restrict the faults to these operations (default: all). */
  operations?: string[];
}

export type FaultOutcome = { kind: 'down' } | { kind: 'error'; error: AwsServiceError } | { kind: 'none' };

/** Holds the current faults and counts down the N-request ones as requests consume them. */
export class FaultInjector {
  private faults: Faults = {};
  private throttleLeft = 0;
  private serverErrorLeft = 0;

  /** Replaces the current faults. */
  set(faults: Faults): void {
    checkCount('latencyMs', faults.latencyMs, false);
    checkCount('throttle', faults.throttle, true);
    checkCount('serverError', faults.serverError, true);
    this.faults = { ...faults, ...(faults.operations ? { operations: [...faults.operations] } : {}) };
    this.throttleLeft = faults.throttle ?? 0;
    this.serverErrorLeft = faults.serverError ?? 0;
  }

  clear(): void {
    this.set({});
  }

  latencyFor(operation: string): number {
    return this.applies(operation) ? (this.faults.latencyMs ?? 0) : 0;
  }

  /** Decides how to answer one request of `operation`, consuming a counted fault if one applies. */
  take(operation: string): FaultOutcome {
    if (!this.applies(operation)) return { kind: 'none' };
    if (this.faults.down) return { kind: 'down' };
    if (this.throttleLeft > 0) {
      this.throttleLeft -= 1;
      return { kind: 'error', error: new AwsServiceError('ThrottlingException', 'Rate exceeded') };
    }
    if (this.serverErrorLeft > 0) {
      this.serverErrorLeft -= 1;
      return {
        kind: 'error',
        error: new AwsServiceError('InternalServiceError', 'An error occurred on the server side.', 500),
      };
    }
    return { kind: 'none' };
  }

  private applies(operation: string): boolean {
    return this.faults.operations === undefined || this.faults.operations.includes(operation);
  }
}

function checkCount(name: string, value: number | undefined, infinityAllowed: boolean): void {
  if (value === undefined) return;
  const valid = value === Infinity ? infinityAllowed : Number.isInteger(value) && value >= 0;
  if (!valid) {
    throw new RangeError(`faults.${name} must be a non-negative integer${infinityAllowed ? ' or Infinity' : ''}`);
  }
}

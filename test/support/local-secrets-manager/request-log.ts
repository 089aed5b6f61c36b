import type { IncomingCall } from '../../../src/local-secrets-manager/index.js';

export interface RecordedRequest {
  readonly operation: string;
  /** SecretId of the request, or Name for CreateSecret. */
  readonly secretId?: string;
  /** From the SigV4 Authorization header: the verified key, or the one a refused request named. */
  readonly accessKeyId?: string;
  /** HTTP status answered; 0 when the connection was dropped without an answer (`down`). */
  readonly status: number;
  /** The AWS error name of an error answer. */
  readonly errorType?: string;
}

// A caller chooses these strings, signed or not: the log keeps a bounded number, each cut short.
const maxRecorded = 10_000;
const maxRecordedChars = 256;

/** The requests an endpoint answered, in order, for tests to count and inspect. */
export class RequestLog {
  private requests: RecordedRequest[] = [];

  get all(): ReadonlyArray<RecordedRequest> {
    return this.requests;
  }

  record(call: IncomingCall, status: number, errorType?: string): void {
    const cut = (text: string) => text.slice(0, maxRecordedChars);
    this.requests.push({
      operation: cut(call.operation),
      ...(call.secretId === undefined ? {} : { secretId: cut(call.secretId) }),
      ...(call.accessKeyId === undefined ? {} : { accessKeyId: cut(call.accessKeyId) }),
      status,
      ...(errorType === undefined ? {} : { errorType }),
    });
    // A long-running endpoint keeps only the latest requests.
    if (this.requests.length > maxRecorded) this.requests = this.requests.slice(-maxRecorded / 2);
  }

  count(operation?: string): number {
    return operation === undefined
      ? this.requests.length
      : this.requests.filter((r) => r.operation === operation).length;
  }

  reset(): void {
    this.requests = [];
  }
}

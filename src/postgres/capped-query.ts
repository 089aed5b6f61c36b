import { RowGateQuery, type QueryCallback, type RawField } from './pg-internals.js';

export interface ResultCaps {
  /** Rows kept; later rows are read from the socket and dropped. */
  maxRows: number;
  /** Bytes of row data (the text of every value) kept; the first row over it and every later one is dropped. */
  maxResultBytes: number;
}

export type Truncation = { reason: 'maxRows' | 'maxResultBytes'; limit: number };

export interface CappedQueryOptions {
  text: string;
  values: readonly unknown[];
  caps: ResultCaps;
  /** Parse/bind/execute even without parameters, so the server runs exactly one statement. */
  extended: boolean;
  callback: QueryCallback;
}

/**
 * A pg Query that keeps at most `maxRows` rows and `maxResultBytes` of row data, so a huge result
 * never piles up in the agent's memory. It still reads the rest from the server (the statement
 * timeout bounds how long), which keeps the connection in a clean state for the next query.
 */
export class CappedQuery extends RowGateQuery {
  truncated: Truncation | undefined;
  private readonly caps: ResultCaps;
  private kept = 0;
  private bytes = 0;

  constructor(options: CappedQueryOptions) {
    super(options.text, options.values, options.extended, options.callback);
    this.caps = options.caps;
  }

  /** A row the message guard cut out of the stream because it alone is over maxResultBytes. */
  rowDropped(): void {
    this.truncated ??= { reason: 'maxResultBytes', limit: this.caps.maxResultBytes };
  }

  protected admitRow(fields: readonly RawField[]): boolean {
    if (this.truncated) return false;
    if (this.kept >= this.caps.maxRows) {
      this.truncated = { reason: 'maxRows', limit: this.caps.maxRows };
      return false;
    }
    let size = 0;
    for (const field of fields)
      if (field !== null) size += typeof field === 'string' ? Buffer.byteLength(field) : field.length;
    if (this.bytes + size > this.caps.maxResultBytes) {
      this.truncated = { reason: 'maxResultBytes', limit: this.caps.maxResultBytes };
      return false;
    }
    this.kept += 1;
    this.bytes += size;
    return true;
  }
}

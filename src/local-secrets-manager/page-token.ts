import type { AwsServiceError } from './aws-service-error.js';

/** The opaque NextToken of a listing: where the next page starts. */
export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

/** The offset a NextToken names; a token this endpoint did not issue is the service's own `invalid` error. */
export function decodePageToken(token: string, invalid: () => AwsServiceError): number {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
    const offset = (parsed as { offset?: unknown }).offset;
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // falls through to the service's answer for a token it did not issue
  }
  throw invalid();
}

// Over 250 lines on purpose: one SigV4 check (canonical request, scope, signature, clock skew) that
// reads best in order; split, each part would need the parsed header of the others.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AwsServiceError } from './aws-service-error.js';

export interface AwsKeyPair {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The parts of an HTTP request that AWS Signature Version 4 covers. */
export interface SignedRequest {
  readonly method: string;
  /** The request target as sent (path and query string). */
  readonly url: string;
  /** `IncomingMessage.rawHeaders`: names and values alternating, as received. */
  readonly rawHeaders: readonly string[];
  /** Hex SHA-256 of the whole body as received. */
  readonly bodySha256: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS refuses a request whose X-Amz-Date is further than this from its own clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/**
 * Verifies the request's SigV4 Authorization header as AWS does for a JSON-protocol service:
 * the access key must be one of `keys`, the credential scope `<date>/<region>/<service>/aws4_request` (`secretsmanager`, `ssm` or `sts`),
 * `host`, `x-amz-date` and every other `x-amz-*` header sent must be signed, X-Amz-Date must be
 * within 5 minutes of `now`, and the signature over the canonical request (with the hash of the body
 * actually received) must match. Throws the service's own errors; returns the access key id.
 */
export function verifySignature(
  request: SignedRequest,
  keys: { get(accessKeyId: string): string | undefined },
  now: number,
  expectedService = 'secretsmanager',
): string {
  const headers = canonicalHeaderValues(request.rawHeaders);
  const authorization = headers.get('authorization');
  if (authorization === undefined) {
    throw new AwsServiceError('MissingAuthenticationTokenException', 'Request is missing Authentication Token');
  }
  const parsed = parseAuthorization(authorization);
  const parts = parsed.credential.split('/');
  const [accessKeyId, scopeDate, region, service, terminator] = parts;
  if (
    parts.length !== 5 ||
    !accessKeyId ||
    !scopeDate ||
    !region ||
    service === undefined ||
    terminator === undefined
  ) {
    throw incomplete(
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${parsed.credential.slice(0, 256)}'. `,
    );
  }
  const secretAccessKey = keys.get(accessKeyId);
  if (secretAccessKey === undefined) {
    throw new AwsServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  if (service !== expectedService) {
    throw invalidSignature(`Credential should be scoped to correct service: '${expectedService}'. `);
  }
  if (terminator !== 'aws4_request') {
    throw invalidSignature("Credential should be scoped with a valid terminator: 'aws4_request'. ");
  }
  const amzDate = headers.get('x-amz-date');
  if (amzDate === undefined) {
    throw incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
  }
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined) throw incomplete(`Date must be in ISO-8601 'basic format'. Got '${amzDate}'. `);
  if (scopeDate !== amzDate.slice(0, 8)) {
    throw invalidSignature(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  }
  if (signedAt < now - MAX_CLOCK_SKEW_MS) {
    throw invalidSignature(
      `Signature expired: ${amzDate} is now earlier than ${amzDateOf(now - MAX_CLOCK_SKEW_MS)} (${amzDateOf(now)} - 5 min.)`,
    );
  }
  if (signedAt > now + MAX_CLOCK_SKEW_MS) {
    throw invalidSignature(
      `Signature not yet current: ${amzDate} is still later than ${amzDateOf(now + MAX_CLOCK_SKEW_MS)} (${amzDateOf(now)} + 5 min.)`,
    );
  }
  const signed = parsed.signedHeaders;
  for (const required of ['host', 'x-amz-date']) {
    if (!signed.includes(required))
      throw invalidSignature(`'${required}' must be a 'SignedHeader' in the AWS Authorization.`);
  }
  for (const name of headers.keys()) {
    if (name.startsWith('x-amz-') && !signed.includes(name)) {
      throw invalidSignature(`'${name}' must be a 'SignedHeader' in the AWS Authorization.`);
    }
  }
  // A client may send the body's hash; it must be the hash of the body that arrived.
  const claimedHash = headers.get('x-amz-content-sha256');
  if (claimedHash !== undefined && claimedHash !== request.bodySha256) {
    throw invalidSignature('The provided x-amz-content-sha256 header does not match what was computed.');
  }
  const canonicalRequest = [
    request.method,
    canonicalPath(request.url),
    canonicalQuery(request.url),
    ...signed.map((name) => `${name}:${headers.get(name) ?? ''}`),
    '',
    signed.join(';'),
    request.bodySha256,
  ].join('\n');
  const scope = `${scopeDate}/${region}/${service}/${terminator}`;
  const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = [scopeDate, region, service, terminator].reduce<Buffer>(
    (key, part) => hmac(key, part),
    Buffer.from(`AWS4${secretAccessKey}`, 'utf8'),
  );
  const expected = hmac(signingKey, stringToSign);
  const given = Buffer.from(parsed.signature, 'hex');
  if (!/^[0-9a-f]{64}$/.test(parsed.signature) || !timingSafeEqual(expected, given)) {
    throw invalidSignature(
      'The request signature we calculated does not match the signature you provided. ' +
        'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }
  return accessKeyId;
}

/** `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=a;b, Signature=hex`; anything else is incomplete. */
function parseAuthorization(authorization: string): { credential: string; signedHeaders: string[]; signature: string } {
  const space = authorization.indexOf(' ');
  const algorithm = space < 0 ? authorization : authorization.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw incomplete(`Authorization header requires the algorithm ${ALGORITHM}. `);
  }
  const fields = new Map<string, string>();
  for (const part of authorization.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  for (const [name, value] of [
    ['Credential', credential],
    ['SignedHeaders', signedHeaders],
    ['Signature', signature],
  ] as const) {
    if (!value) throw incomplete(`Authorization header requires '${name}' parameter. `);
  }
  const names = signedHeaders!.split(';');
  // The canonical request lists them lowercase and sorted; a header named twice is not canonical.
  const canonical = [...new Set(names.map((name) => name.toLowerCase()))].sort();
  if (canonical.join(';') !== signedHeaders) {
    throw invalidSignature('SignedHeaders must be lowercase, sorted and without repeats. ');
  }
  return { credential: credential!, signedHeaders: names, signature: signature! };
}

/** Lowercase names; a repeated header's values joined by commas; values trimmed, inner spaces collapsed. */
function canonicalHeaderValues(rawHeaders: readonly string[]): Map<string, string> {
  const values = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!.trim().replace(/\s+/g, ' ');
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  return new Map([...values].map(([name, list]) => [name, list.join(',')]));
}

/**
 * The path as sent (already URI-encoded once), normalized and encoded once more, as for every
 * service but S3; slashes stay.
 */
function canonicalPath(url: string): string {
  const rawPath = url.split('?')[0] || '/';
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '.' || segment === '') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `/${segments.join('/')}${rawPath.endsWith('/') && segments.length > 0 ? '/' : ''}`;
  return uriEncode(normalized).replace(/%2F/g, '/');
}

function canonicalQuery(url: string): string {
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  if (query === '') return '';
  return query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : pair.slice(eq + 1);
      return [uriEncode(safeDecode(key)), uriEncode(safeDecode(value))] as const;
    })
    .sort(([a, av], [b, bv]) => (a === b ? compare(av, bv) : compare(a, b)))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

function compare(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

/** RFC 3986 encoding: everything but unreserved characters. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function parseAmzDate(text: string): number | undefined {
  const m = AMZ_DATE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  return Number.isNaN(ms) ? undefined : ms;
}

/** `20260102T030405Z`, the form of X-Amz-Date. */
export function amzDateOf(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function invalidSignature(message: string): AwsServiceError {
  return new AwsServiceError('InvalidSignatureException', message);
}

function incomplete(message: string): AwsServiceError {
  return new AwsServiceError('IncompleteSignatureException', message);
}

const KEY_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A fresh key pair in AWS's shapes: a 20-character access key id and a 40-character secret key. */
export function randomKeyPair(): AwsKeyPair {
  const id = [...randomBytes(16)].map((byte) => KEY_ID_ALPHABET[byte % KEY_ID_ALPHABET.length]).join('');
  return { accessKeyId: `AKIA${id}`, secretAccessKey: randomBytes(30).toString('base64') };
}

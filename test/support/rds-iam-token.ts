import { createHash, createHmac } from 'node:crypto';

/** What an RDS IAM token is signed for, and with which key and second (`amzDate`, `YYYYMMDDTHHMMSSZ`). */
export interface RdsIamTokenInputs {
  host: string;
  port: number;
  user: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials (an assumed role's) add their session token, signed with the rest. */
  sessionToken?: string | undefined;
  amzDate: string;
}

// RFC 3986 encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone).
const encode = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, text: string): Buffer => createHmac('sha256', key).update(text).digest();
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The token AWS documents for RDS IAM authentication, computed here from SigV4's definition with
 * node:crypto alone (not the SDK): `host:port/?Action=connect&DBUser=...` presigned for 900 seconds,
 * service `rds-db`, the only signed header `host`, the payload the empty string.
 */
export function expectedRdsIamToken(inputs: RdsIamTokenInputs): string {
  const day = inputs.amzDate.slice(0, 8);
  const scope = `${day}/${inputs.region}/rds-db/aws4_request`;
  const query: Record<string, string> = {
    Action: 'connect',
    DBUser: inputs.user,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${inputs.accessKeyId}/${scope}`,
    'X-Amz-Date': inputs.amzDate,
    'X-Amz-Expires': '900',
    ...(inputs.sessionToken ? { 'X-Amz-Security-Token': inputs.sessionToken } : {}),
    'X-Amz-SignedHeaders': 'host',
  };
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((key) => `${encode(key)}=${encode(query[key] as string)}`)
    .join('&');
  const hostHeader = `${inputs.host}:${inputs.port}`;
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${hostHeader}\n`, 'host', sha256('')].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', inputs.amzDate, scope, sha256(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${inputs.secretAccessKey}`, day);
  for (const part of [inputs.region, 'rds-db', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  // The SDK writes the signature among the other parameters in sorted order: so does this.
  const withSignature: Record<string, string> = { ...query, 'X-Amz-Signature': signature };
  const written = Object.keys(withSignature)
    .sort()
    .map((key) => `${encode(key)}=${encode(withSignature[key] as string)}`)
    .join('&');
  return `${hostHeader}/?${written}`;
}

/** A token's parts: where it is for, and its query parameters. */
export function parseRdsIamToken(token: string): { host: string; port: string; params: Record<string, string> } {
  const url = new URL(`https://${token}`);
  return { host: url.hostname, port: url.port, params: Object.fromEntries(url.searchParams) };
}

/** The `X-Amz-Date` of a moment. */
export function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

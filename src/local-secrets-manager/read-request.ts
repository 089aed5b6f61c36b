import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isObject } from './params.js';

export const MAX_BODY_BYTES = 1024 * 1024;
/** X-Amz-Target prefixes by the SigV4 service name requests to them are signed for. */
const TARGET_PREFIXES = { secretsmanager: 'secretsmanager.', ssm: 'AmazonSSM.' } as const;
export type ServiceName = keyof typeof TARGET_PREFIXES;

/** What the server learns from a request before deciding how to answer it. */
export interface IncomingCall {
  /** The operation named by X-Amz-Target (without `secretsmanager.` or `AmazonSSM.`), or the raw header when foreign. */
  readonly operation: string;
  readonly knownTarget: boolean;
  /** The service the target names (Secrets Manager when foreign, for its errors). */
  readonly service: ServiceName;
  readonly accessKeyId: string | undefined;
  /** The parsed JSON body; `undefined` when it was not a JSON object. */
  readonly body: Record<string, unknown> | undefined;
  readonly tooLarge: boolean;
  /** Hex SHA-256 of the whole body as received (also of one too large to keep), for SigV4. */
  readonly bodySha256: string;
  /** SecretId, or Name for CreateSecret and GetParameter, or Path for GetParametersByPath, when the body has one. */
  readonly secretId: string | undefined;
  /**
   * The form of an AWS Query protocol request (STS: a form-encoded POST without X-Amz-Target);
   * `operation` is then its Action.
   */
  readonly form: URLSearchParams | undefined;
  /** The x-amz-security-token header: sent with temporary credentials. */
  readonly securityToken: string | undefined;
}

/**
 * Reads the whole request. A body over MAX_BODY_BYTES is drained and dropped rather than kept, so
 * the answer can still be sent on an intact connection. Resolves `undefined` if the client went away.
 */
export async function readRequest(req: IncomingMessage): Promise<IncomingCall | undefined> {
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      hash.update(chunk);
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    }
  } catch {
    return undefined;
  }
  const tooLarge = size > MAX_BODY_BYTES;
  const text = tooLarge ? '' : Buffer.concat(chunks).toString('utf8');
  const rawTarget = header(req, 'x-amz-target');
  const form =
    rawTarget === undefined && !tooLarge && header(req, 'content-type')?.startsWith('application/x-www-form-urlencoded')
      ? new URLSearchParams(text)
      : undefined;
  const body = tooLarge || form ? undefined : parseBody(text);
  const target = rawTarget ?? '';
  const service = target.startsWith(TARGET_PREFIXES.ssm) ? 'ssm' : 'secretsmanager';
  const prefix = TARGET_PREFIXES[service];
  const knownTarget = form !== undefined || target.startsWith(prefix);
  const operation = form
    ? (form.get('Action') ?? '')
    : target.startsWith(prefix)
      ? target.slice(prefix.length)
      : target;
  const idField = ID_FIELDS[operation] ?? 'SecretId';
  const secretId = body?.[idField];
  return {
    operation,
    knownTarget,
    service,
    accessKeyId: accessKeyIdOf(header(req, 'authorization')),
    body,
    tooLarge,
    bodySha256: hash.digest('hex'),
    secretId: typeof secretId === 'string' ? secretId : undefined,
    form,
    securityToken: header(req, 'x-amz-security-token'),
  };
}

const ID_FIELDS: Partial<Record<string, string>> = {
  CreateSecret: 'Name',
  GetParameter: 'Name',
  GetParametersByPath: 'Path',
};

/** The access key id of a SigV4 Authorization header (`Credential=AKID/date/region/service/aws4_request`). */
export function accessKeyIdOf(authorization: string | undefined): string | undefined {
  return authorization?.match(/Credential=([^/,\s]+)\//)?.[1];
}

function parseBody(text: string): Record<string, unknown> | undefined {
  if (text.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

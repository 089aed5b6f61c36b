import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error Vault answers as `{"errors":[...]}` with its HTTP status. */
export class VaultReplyError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors.join('; ') || `status ${status}`);
  }
}

export const permissionDenied = () => new VaultReplyError(403, ['permission denied']);
export const badRequest = (message: string) => new VaultReplyError(400, [message]);
/** Vault answers a missing KV secret with an empty errors list. */
export const notFound = (message?: string) => new VaultReplyError(404, message ? [message] : []);

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendNoContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

const MAX_BODY_BYTES = 64 * 1024;

/** The request's JSON body (an empty body is `{}`); malformed or oversized JSON is Vault's 400. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw badRequest('request body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw badRequest('failed to parse JSON input');
}

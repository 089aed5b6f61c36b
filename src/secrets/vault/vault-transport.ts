import { request as httpsRequest } from 'node:https';
import { VaultError } from './vault-error.js';

/** One HTTP exchange with Vault: status and parsed JSON body (undefined when empty or not JSON). */
export type VaultTransport = (
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
) => Promise<{ status: number; body: unknown }>;

const parse = (text: string): unknown => {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** Node's fetch (undici), for Vault over http, or https trusted by the system's CAs. */
export const fetchTransport: VaultTransport = async (method, url, headers, body, timeoutMs) => {
  const res = await fetch(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    redirect: 'error',
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: parse(await res.text()) };
};

/**
 * https trusting the CA of VAULT_CACERT: Node's fetch takes its own CAs only through an undici
 * Agent, and undici is not a dependency of credflow, so this one path uses node:https with `ca`.
 */
export function caTransport(ca: string): VaultTransport {
  return (method, url, headers, body, timeoutMs) =>
    new Promise((resolve, reject) => {
      if (url.protocol !== 'https:') {
        reject(new VaultError('VaultUnreachable', 'VAULT_CACERT is set but VAULT_ADDR is not https', 0));
        return;
      }
      const req = httpsRequest(url, { method, headers, ca, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: parse(Buffer.concat(chunks).toString('utf8')) }),
        );
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });
}

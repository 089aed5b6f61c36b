import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressPolicy } from './address-rules.js';
import { checkAddress, Refusal, systemResolver, type Resolver } from './checked-address.js';
import { connectionOptions } from './connection-options.js';
import type { HostAllowlist } from './allowed-hosts.js';
import type { HttpRequest, HttpResponse } from './http-request.js';
import { certificateRefusal, trustedContext } from './tls-trust.js';

export interface HttpGatewayOptions extends AddressPolicy {
  /** CREDFLOW_HTTP_BRIDGE_MAX_BYTES: bytes of one response body at most. */
  maxBytes: number;
  /** CREDFLOW_HTTP_BRIDGE_TIMEOUT_MS: one call, its redirects included, at most. */
  timeoutMs: number;
  /** Redirects followed at most (default 5). */
  maxRedirects?: number;
  /** The PEM text of CREDFLOW_HTTP_BRIDGE_CA_FILE: CAs https calls trust besides Node's own. */
  ca?: string;
  resolve?: Resolver;
}

/** One call's bounds from its workflow and run. */
export interface HttpFetchPolicy {
  allowed: HostAllowlist;
  /** The run's deadline (epoch ms): a call never outlives it. */
  deadline: number;
}

/** A refusal or failure as step code sees it: `HostNotAllowed`, `AddressNotAllowed`, `TimeoutError`, Node's code... */
export interface HttpFetchError {
  name: string;
  message: string;
}

export type HttpAnswer = { ok: true; value: HttpResponse } | { ok: false; error: HttpFetchError };

export interface HttpGateway {
  fetch(request: HttpRequest, policy: HttpFetchPolicy): Promise<HttpAnswer>;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
/** Headers that carry the caller's identity: not sent on to another origin a redirect names. */
const credentialHeaders = new Set(['authorization', 'cookie']);

/**
 * The HTTP bridge's client. Each hop (the first URL and every redirect) is checked against the
 * workflow's allowedHosts, its host resolved once, every resolved address checked against the
 * address rules, and the connection made to the checked address (the socket's lookup answers only
 * it), so a name cannot resolve to something else between the check and the connect. TLS keeps the
 * name for SNI and certificate checks. One connection per request (no keep-alive).
 */
export function createHttpGateway(options: HttpGatewayOptions): HttpGateway {
  const resolve = options.resolve ?? systemResolver;
  const checkedAddress = (url: URL, literal: boolean) => checkAddress(url, literal, options, resolve);
  const maxRedirects = options.maxRedirects ?? 5;
  const secureContext = trustedContext(options.ca);

  const hop = async (
    url: URL,
    request: HttpRequest,
    policy: HttpFetchPolicy,
    signal: AbortSignal,
  ): Promise<{ response: IncomingMessage; finish: () => void }> => {
    const match = policy.allowed(url);
    if (!match.allowed) throw new Refusal('HostNotAllowed', `${url.origin} is not in the workflow's allowedHosts`);
    const target = await checkedAddress(url, match.literal);
    const headers: Record<string, string> = {
      ...request.headers,
      host: url.host,
      'accept-encoding': 'identity',
    };
    if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolvePromise, reject) => {
      const req = client.request({
        ...connectionOptions(url, target, secureContext),
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers,
        setHost: false,
        signal,
      });
      // Kept for the request's life: an error after the response (an abort while reading) must not go unheard.
      req.on('error', reject);
      req.once('response', (response) => resolvePromise({ response, finish: () => req.destroy() }));
      req.end(request.body);
    });
  };

  const readBody = async (response: IncomingMessage, origin: string): Promise<string> => {
    const declared = Number(response.headers['content-length']);
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      response.destroy();
      throw tooLarge(origin, options.maxBytes);
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of response as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > options.maxBytes) {
        response.destroy();
        throw tooLarge(origin, options.maxBytes);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  };

  return {
    async fetch(request, policy) {
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        return { ok: false, error: { name: 'TypeError', message: 'http.fetch: the URL is not a valid absolute URL' } };
      }
      const budget = Math.min(options.timeoutMs, policy.deadline - Date.now());
      if (budget <= 0)
        return { ok: false, error: { name: 'TimeoutError', message: 'http.fetch: the run has no time left' } };
      const controller = new AbortController();
      // The bound covers name resolution too, which no signal stops: the call answers at the bound
      // and the abandoned lookup's result is dropped.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          controller.abort();
          reject(new Refusal('TimeoutError', `http.fetch ${url.origin}: no complete answer within ${budget} ms`));
        }, budget);
      });
      let current = { ...request, headers: { ...request.headers } };
      const attempt = async (): Promise<HttpAnswer> => {
        for (let redirects = 0; ; redirects += 1) {
          const { response, finish } = await hop(url, current, policy, controller.signal);
          const status = response.statusCode ?? 0;
          const location = response.headers.location;
          if (redirectStatuses.has(status) && location !== undefined) {
            finish();
            if (redirects >= maxRedirects)
              throw new Refusal('TooManyRedirects', `${url.origin}: more than ${maxRedirects} redirects`);
            const next = new URL(location, url);
            if (next.origin !== url.origin)
              current.headers = Object.fromEntries(
                Object.entries(current.headers).filter(([name]) => !credentialHeaders.has(name.toLowerCase())),
              );
            // As fetch does: 303, and 301/302 after a POST, become a GET without a body.
            if (status === 303 || ((status === 301 || status === 302) && current.method === 'POST'))
              current = { ...current, method: current.method === 'HEAD' ? 'HEAD' : 'GET', body: undefined };
            url = next;
            continue;
          }
          const body = current.method === 'HEAD' ? (finish(), '') : await readBody(response, url.origin);
          finish();
          return {
            ok: true,
            value: {
              status,
              statusText: response.statusMessage ?? '',
              headers: headersOf(response),
              body,
              url: url.href,
              redirected: redirects > 0,
            },
          };
        }
      };
      try {
        const work = attempt();
        work.catch(() => undefined);
        return await Promise.race([work, timedOut]);
      } catch (error) {
        if (error instanceof Refusal) return { ok: false, error: { name: error.name, message: error.message } };
        if (controller.signal.aborted)
          return {
            ok: false,
            error: {
              name: 'TimeoutError',
              message: `http.fetch ${url.origin}: no complete answer within ${budget} ms`,
            },
          };
        const code = (error as NodeJS.ErrnoException).code;
        const name = code && /^[A-Z][A-Z0-9_]+$/.test(code) ? code : 'Error';
        const message = certificateRefusal(name, url, options.ca !== undefined) ?? `http.fetch ${url.origin}: ${name}`;
        return { ok: false, error: { name, message } };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function tooLarge(origin: string, maxBytes: number): Refusal {
  return new Refusal(
    'ResponseTooLarge',
    `http.fetch ${origin}: the response body is larger than ${maxBytes} bytes (CREDFLOW_HTTP_BRIDGE_MAX_BYTES)`,
  );
}

function headersOf(response: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

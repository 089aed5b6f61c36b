import { AwsServiceError } from './aws-service-error.js';

const LOOPBACK = new Set(['127.0.0.1', '::1']);

/**
 * The Host header values the endpoint answers: its own address and port, and `localhost:<port>`
 * when bound to loopback. A page that rebinds a foreign DNS name to 127.0.0.1 sends its own name
 * as Host and is refused before anything else is looked at.
 */
export function allowedHosts(boundHost: string, port: number): ReadonlySet<string> {
  const named = boundHost.includes(':') ? `[${boundHost}]` : boundHost;
  const hosts = new Set([`${named.toLowerCase()}:${port}`]);
  if (LOOPBACK.has(boundHost)) hosts.add(`localhost:${port}`);
  return hosts;
}

export function checkHost(host: string | undefined, allowed: ReadonlySet<string>): void {
  if (host !== undefined && allowed.has(host.toLowerCase())) return;
  throw new AwsServiceError(
    'MisdirectedRequestException',
    `This endpoint answers only requests addressed to ${[...allowed].join(' or ')}.`,
    421,
  );
}

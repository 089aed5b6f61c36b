import type { RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import type { SecureContext } from 'node:tls';
import { pinnedLookup, type ResolvedAddress } from './checked-address.js';

/**
 * How one hop connects: to the address the rules checked (the socket's lookup answers only it),
 * while TLS keeps the URL's name: it is sent as SNI and the certificate must be for it (an IP
 * literal sends no SNI and is checked against the certificate's IP addresses). `secureContext`
 * carries the CAs of CREDFLOW_HTTP_BRIDGE_CA_FILE; without it Node's own are trusted. Verification
 * is asked for outright, so NODE_TLS_REJECT_UNAUTHORIZED=0 in the agent's environment cannot turn
 * it off for step code.
 */
export function connectionOptions(
  url: URL,
  target: ResolvedAddress,
  secureContext: SecureContext | undefined,
): RequestOptions {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const tls = url.protocol === 'https:';
  return {
    protocol: url.protocol,
    hostname: host,
    port: url.port === '' ? undefined : Number(url.port),
    agent: false,
    lookup: pinnedLookup(target),
    ...(tls ? { rejectUnauthorized: true } : {}),
    ...(tls && isIP(host) === 0 ? { servername: host } : {}),
    ...(tls && secureContext ? { secureContext } : {}),
  };
}

import tls, { type SecureContext } from 'node:tls';

/**
 * The TLS context of https calls when CREDFLOW_HTTP_BRIDGE_CA_FILE gives extra CAs, built once: Node's
 * `ca` option replaces the CAs it trusts, so the extra ones are added to Node's default set (its
 * bundled CAs, NODE_EXTRA_CA_CERTS, and the system's with --use-system-ca). Undefined: Node's default.
 */
export function trustedContext(extraCa: string | undefined): SecureContext | undefined {
  if (extraCa === undefined) return undefined;
  return tls.createSecureContext({ ca: [...tls.getCACertificates('default'), extraCa] });
}

/** OpenSSL's codes for a certificate chain that leads to no trusted CA. */
const untrustedCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

/**
 * What a step is told when the server's certificate was refused (`code` is Node's, which is also the
 * error's name); undefined for other failures. It names the server, never anything the step sent.
 */
export function certificateRefusal(code: string, url: URL, extraCa: boolean): string | undefined {
  const host = url.hostname;
  const where = `http.fetch ${url.origin}`;
  if (untrustedCodes.has(code))
    return `${where}: the server's certificate is not trusted (${code}): no CA Node trusts${
      extraCa ? ' nor any in CREDFLOW_HTTP_BRIDGE_CA_FILE' : ''
    } signed it${extraCa ? '' : ' (set CREDFLOW_HTTP_BRIDGE_CA_FILE to a PEM file of the CA that did)'}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `${where}: the server's certificate is not for ${host} (${code}): ${host} is not among its subject alternative names`;
  if (code === 'CERT_HAS_EXPIRED') return `${where}: the server's certificate has expired (${code})`;
  if (code === 'CERT_NOT_YET_VALID') return `${where}: the server's certificate is not valid yet (${code})`;
  return undefined;
}

/** Node's codes (OpenSSL's verify results) for a server certificate that no trusted CA vouches for. */
const untrustedCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
]);

const outOfDateCodes: Record<string, string> = {
  CERT_HAS_EXPIRED: 'has expired',
  CERT_NOT_YET_VALID: 'is not yet valid',
};

/** pg's own text when the server answers the SSLRequest with "N" (pg 8.23.1, lib/connection.js). */
const NO_TLS = 'The server does not support SSL connections';

/** Where a connection gets the CA to trust, for the messages that need one. */
const CA_ADVICE =
  'give the CA that issued it with connection.ssl.caFile (a PEM file) or ssl.ca, or to the whole agent with NODE_EXTRA_CA_CERTS';

/**
 * Plain words for a TLS failure while connecting: a server without TLS, a certificate not trusted,
 * out of date or for another name. Undefined for any other error. `message` is the error's text,
 * already masked and scrubbed of the connection's details.
 */
export function tlsFailure(code: string | undefined, message: string): string | undefined {
  if (code === undefined && message === NO_TLS)
    return 'the server does not support TLS (SSL) connections, and this connection requires TLS (connection.ssl; auth "rds-iam" always does)';
  if (code === undefined) return undefined;
  // Node adds advice about --use-system-ca after a semicolon: the agent's CA settings are the advice here.
  const reason = message.split(';', 1)[0]?.trim() || message;
  if (untrustedCodes.has(code)) return `the server's TLS certificate is not trusted (${reason}, ${code}): ${CA_ADVICE}`;
  const outOfDate = outOfDateCodes[code];
  if (outOfDate) return `the server's TLS certificate ${outOfDate} (${code})`;
  // Node's text names the host with a trailing dot, past the scrubbing of connection details: not quoted.
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the server's TLS certificate is not for the host connected to (${code}): connect by a name the certificate holds`;
  return undefined;
}

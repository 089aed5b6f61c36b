import { escapeRegExp } from '../config/index.js';
import { CredflowError } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';

const authCodes = new Set(['28P01', '28000']);
const connectCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'EPIPE']);

/** Where a pool connects; these never appear in an error a caller sees. */
export interface ConnectionDetails {
  host: string | undefined;
  port: string | undefined;
  user: string | undefined;
  database: string | undefined;
}


/**
 * Removes the host, port, user and database from a server or socket message: quoted identifiers
 * (`user "orders_app"`), `host:port` and the bare host name. Short values are replaced only where
 * they stand quoted or beside the port, so ordinary words survive.
 */
export function scrubConnectionDetails(message: string, details: ConnectionDetails | undefined): string {
  if (!details) return message;
  let out = message;
  const named: [string | undefined, string][] = [
    [details.user, '<user>'],
    [details.database, '<database>'],
    [details.host, '<host>'],
  ];
  for (const [value, label] of named) {
    if (!value) continue;
    out = out.replace(new RegExp(`"${escapeRegExp(value)}"`, 'g'), `"${label}"`);
  }
  if (details.host) {
    const host = escapeRegExp(details.host);
    if (details.port) out = out.replace(new RegExp(`${host}:${escapeRegExp(details.port)}`, 'g'), '<host>:<port>');
    if (details.host.length >= 4) out = out.replace(new RegExp(`(^|[^A-Za-z0-9.-])${host}(?=$|[^A-Za-z0-9.-])`, 'g'), '$1<host>');
  }
  if (details.port) out = out.replace(new RegExp(`(:|port )${escapeRegExp(details.port)}\\b`, 'g'), '$1<port>');
  return out;
}

/** Plain words for the SQLSTATEs of a refused login; the server's own text names the user. */
const authText: Record<string, string> = {
  '28P01': 'password authentication failed',
  '28000': 'the server refused the login (pg_hba.conf, or the role may not log in)',
};

/**
 * Turns a pg or socket error into a CredflowError that keeps the SQLSTATE and the server's message,
 * masked by the secret masker and scrubbed of the connection's host, port, user and database.
 */
export function mapPgError(
  error: unknown,
  integration: string,
  masker: SecretMasker,
  phase: 'connect' | 'query',
  connection?: ConnectionDetails,
): CredflowError {
  const e = error as { code?: string; message?: string; severity?: string; position?: string; detail?: string; hint?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const clean = (text: string) => scrubConnectionDetails(masker.mask(text), connection);
  const message = clean(typeof e?.message === 'string' ? e.message : String(error));
  if (code && authCodes.has(code)) {
    return new CredflowError('DB_AUTH_FAILED', `integration "${integration}": the database refused the credentials (SQLSTATE ${code}): ${authText[code]}`, {
      details: { integration, sqlstate: code },
    });
  }
  if (phase === 'connect' || (code && connectCodes.has(code)) || !code || !/^[0-9A-Z]{5}$/.test(code)) {
    const why = code && connectCodes.has(code) ? `${code}` : code && /^[0-9A-Z]{5}$/.test(code) ? `SQLSTATE ${code}: ${message}` : message;
    const what = phase === 'connect' ? 'could not connect to the database' : 'lost the connection to the database';
    return new CredflowError('DB_CONNECT_FAILED', `integration "${integration}": ${what}: ${why}`, {
      details: { integration, ...(code && /^[0-9A-Z]{5}$/.test(code) ? { sqlstate: code } : code ? { errorCode: code } : {}) },
    });
  }
  // 08P01 with severity ERROR is a protocol complaint about this statement (a NUL in the text, a
  // wrong number of parameters); the session survives, so it is the caller's error.
  const sessionLost = code.startsWith('57P') || (code.startsWith('08') && !(code === '08P01' && e.severity === 'ERROR'));
  if (sessionLost) {
    // The server ended the session or the connection broke: not the caller's fault.
    return new CredflowError('DB_CONNECT_FAILED', `integration "${integration}": lost the connection to the database (SQLSTATE ${code}): ${message}`, {
      details: { integration, sqlstate: code },
    });
  }
  const hint = code === '42601' && /multiple commands/.test(message) ? ' (a query is one statement; send each statement on its own)' : '';
  return new CredflowError('DB_QUERY_FAILED', `integration "${integration}": query failed (SQLSTATE ${code}): ${message}${hint}`, {
    details: {
      integration,
      sqlstate: code,
      ...(e.position ? { position: Number(e.position) } : {}),
      ...(e.detail ? { detail: clean(e.detail) } : {}),
      ...(e.hint ? { hint: clean(e.hint) } : {}),
    },
  });
}

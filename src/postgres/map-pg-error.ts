import { escapeRegExp } from '../config/index.js';
import { CredflowError, truncate } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';
import { tlsFailure } from './tls-failure.js';

const authCodes = new Set(['28P01', '28000']);
const connectCodes = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'EAI_AGAIN',
  'EPIPE',
]);

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
    if (details.host.length >= 4)
      out = out.replace(new RegExp(`(^|[^A-Za-z0-9.-])${host}(?=$|[^A-Za-z0-9.-])`, 'g'), '$1<host>');
  }
  if (details.port) out = out.replace(new RegExp(`(:|port )${escapeRegExp(details.port)}\\b`, 'g'), '$1<port>');
  return out;
}

/** The most characters of each server text (message, detail, hint) an error returns. */
export const ERROR_TEXT_MAX = 8 * 1024;

/**
 * Cuts each server text to ERROR_TEXT_MAX characters, and all of them together to `budgetBytes` of
 * UTF-8 (the query's maxResultBytes), in order: an error must not carry more than a result may.
 * Cut after masking, so a secret is never cut in two and left half visible.
 */
function cutTexts<T extends (string | undefined)[]>(texts: T, budgetBytes: number): T {
  let left = budgetBytes;
  return texts.map((text) => {
    if (text === undefined) return undefined;
    let out = truncate(text, ERROR_TEXT_MAX);
    let bytes = Buffer.byteLength(out);
    if (bytes > left && left < 16) {
      // No room for text and the marker: the marker alone, or nothing.
      out = left >= 3 ? '…' : '';
      bytes = Buffer.byteLength(out);
    } else if (bytes > left) {
      // Each character is 1 to 3 bytes of UTF-8 (a surrogate pair, 4 bytes, is 2 characters).
      let keep = text.slice(0, Math.min(ERROR_TEXT_MAX, Math.max(0, left - 16)));
      while (keep.length > 0 && Buffer.byteLength(keep) > Math.max(0, left - 16))
        keep = keep.slice(0, Math.floor(keep.length * 0.9));
      out = `${keep}… (truncated)`;
      bytes = Buffer.byteLength(out);
    }
    left = Math.max(0, left - bytes);
    return out;
  }) as T;
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
  /** Bytes of server text the error may carry in all (the query's maxResultBytes). */
  budgetBytes = Number.POSITIVE_INFINITY,
): CredflowError {
  const e = error as {
    code?: string;
    message?: string;
    severity?: string;
    position?: string;
    detail?: string;
    hint?: string;
  };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const clean = (text: string) => scrubConnectionDetails(masker.mask(text), connection);
  const [message, detail, hint] = cutTexts(
    [
      clean(typeof e?.message === 'string' ? e.message : String(error)),
      e.detail ? clean(e.detail) : undefined,
      e.hint ? clean(e.hint) : undefined,
    ],
    budgetBytes,
  );
  if (code && authCodes.has(code)) {
    return new CredflowError(
      'DB_AUTH_FAILED',
      `integration "${integration}": the database refused the credentials (SQLSTATE ${code}): ${authText[code]}`,
      {
        details: { integration, sqlstate: code },
      },
    );
  }
  if (phase === 'connect' || (code && connectCodes.has(code)) || !code || !/^[0-9A-Z]{5}$/.test(code)) {
    const why =
      tlsFailure(code, message) ??
      (code && connectCodes.has(code)
        ? `${code}`
        : code && /^[0-9A-Z]{5}$/.test(code)
          ? `SQLSTATE ${code}: ${message}`
          : message);
    const what = phase === 'connect' ? 'could not connect to the database' : 'lost the connection to the database';
    return new CredflowError('DB_CONNECT_FAILED', `integration "${integration}": ${what}: ${why}`, {
      details: {
        integration,
        ...(code && /^[0-9A-Z]{5}$/.test(code) ? { sqlstate: code } : code ? { errorCode: code } : {}),
      },
    });
  }
  // 08P01 with severity ERROR is a protocol complaint about this statement (a NUL in the text, a
  // wrong number of parameters); the session survives, so it is the caller's error.
  const sessionLost =
    code.startsWith('57P') || (code.startsWith('08') && !(code === '08P01' && e.severity === 'ERROR'));
  if (sessionLost) {
    // The server ended the session or the connection broke: not the caller's fault.
    return new CredflowError(
      'DB_CONNECT_FAILED',
      `integration "${integration}": lost the connection to the database (SQLSTATE ${code}): ${message}`,
      {
        details: { integration, sqlstate: code },
      },
    );
  }
  const advice =
    code === '42601' && /multiple commands/.test(message)
      ? ' (a query is one statement; send each statement on its own)'
      : '';
  return new CredflowError(
    'DB_QUERY_FAILED',
    `integration "${integration}": query failed (SQLSTATE ${code}): ${message}${advice}`,
    {
      details: {
        integration,
        sqlstate: code,
        ...(e.position ? { position: Number(e.position) } : {}),
        ...(detail ? { detail } : {}),
        ...(hint ? { hint } : {}),
      },
    },
  );
}

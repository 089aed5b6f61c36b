import { CredflowError } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';

const authCodes = new Set(['28P01', '28000']);
const connectCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'EPIPE']);

/**
 * Turns a pg or socket error into a CredflowError. Authentication failures say so plainly; messages
 * pass through the masker, and connection details never travel in them.
 */
export function mapPgError(error: unknown, integration: string, masker: SecretMasker, phase: 'connect' | 'query'): CredflowError {
  const e = error as { code?: string; message?: string; severity?: string; position?: string; detail?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = masker.mask(typeof e?.message === 'string' ? e.message : String(error));
  if (code && authCodes.has(code)) {
    return new CredflowError('DB_AUTH_FAILED', `integration "${integration}": the database refused the credentials (SQLSTATE ${code}): ${message}`, {
      details: { integration, sqlstate: code },
    });
  }
  if (phase === 'connect' || (code && connectCodes.has(code)) || !code || !/^[0-9A-Z]{5}$/.test(code)) {
    const why = code && connectCodes.has(code) ? `${code}` : message;
    const what = phase === 'connect' ? 'could not connect to the database' : 'lost the connection to the database';
    return new CredflowError('DB_CONNECT_FAILED', `integration "${integration}": ${what}: ${why}`, {
      details: { integration, ...(code && /^[0-9A-Z]{5}$/.test(code) ? { sqlstate: code } : code ? { errorCode: code } : {}) },
    });
  }
  if (code.startsWith('57P') || code.startsWith('08')) {
    // The server ended the session or the connection broke: not the caller's fault.
    return new CredflowError('DB_CONNECT_FAILED', `integration "${integration}": lost the connection to the database (SQLSTATE ${code}): ${message}`, {
      details: { integration, sqlstate: code },
    });
  }
  return new CredflowError('DB_QUERY_FAILED', `integration "${integration}": query failed (SQLSTATE ${code}): ${message}`, {
    details: {
      integration,
      sqlstate: code,
      ...(e.position ? { position: Number(e.position) } : {}),
      ...(e.detail ? { detail: masker.mask(e.detail) } : {}),
    },
  });
}

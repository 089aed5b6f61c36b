import { describe, expect, it } from 'vitest';
import { ERROR_TEXT_MAX, mapPgError } from '../../src/postgres/index.js';
import { SecretMasker } from '../../src/masking/index.js';

const serverError = (fields: { message: string; detail?: string; hint?: string }) =>
  Object.assign(new Error(fields.message), { code: '22P02', severity: 'ERROR', ...fields });

describe('mapPgError cuts the server texts', () => {
  it('masks a secret before cutting, so a secret across the 8 KiB mark is never left half visible', () => {
    const secret = 'Sup3r-Secret-Value-0123456789';
    const masker = new SecretMasker();
    masker.add(secret);
    const message = `${'a'.repeat(ERROR_TEXT_MAX - 10)}${secret}${'b'.repeat(100)}`;
    const error = mapPgError(serverError({ message }), 'orders', masker, 'query');
    expect(error.message).not.toContain(secret.slice(0, 10));
    expect(error.message).toMatch(/… \(truncated\)$/);
  });

  it('keeps message, detail and hint together within the byte budget, counting multi-byte characters as their UTF-8 bytes', () => {
    const error = mapPgError(
      serverError({ message: '€'.repeat(5000), detail: 'é'.repeat(5000), hint: 'h'.repeat(5000) }),
      'orders',
      new SecretMasker(),
      'query',
      undefined,
      1000,
    );
    const serverText = error.message.slice(error.message.indexOf('): ') + 3);
    const used = [serverText, error.details?.detail, error.details?.hint].filter(
      (t): t is string => typeof t === 'string',
    );
    expect(used.reduce((sum, text) => sum + Buffer.byteLength(text), 0)).toBeLessThanOrEqual(1000);
    expect(serverText).toMatch(/^€+… \(truncated\)$/);
  });

  it('leaves texts within the limits as the server wrote them', () => {
    const error = mapPgError(
      serverError({ message: 'invalid input', detail: 'the detail', hint: 'a hint' }),
      'orders',
      new SecretMasker(),
      'query',
      undefined,
      1000,
    );
    expect(error.message).toBe('integration "orders": query failed (SQLSTATE 22P02): invalid input');
    expect(error.details).toMatchObject({ detail: 'the detail', hint: 'a hint' });
  });
});

describe('mapPgError says what went wrong with TLS', () => {
  const tlsError = (code: string, message: string) => Object.assign(new Error(message), { code });
  const connect = (error: unknown) =>
    mapPgError(error, 'orders', new SecretMasker(), 'connect', {
      host: 'db.internal.example',
      port: '5432',
      user: 'app',
      database: 'orders',
    });

  it('names a server without TLS as such, rather than quoting pg', () => {
    const error = connect(new Error('The server does not support SSL connections'));
    expect(error.code).toBe('DB_CONNECT_FAILED');
    expect(error.message).toBe(
      'integration "orders": could not connect to the database: the server does not support TLS (SSL) connections, and this connection requires TLS (connection.ssl; auth "rds-iam" always does)',
    );
  });

  it.each(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'])(
    'says a certificate with %s is not trusted and where to give the CA, without Node’s --use-system-ca advice',
    (code) => {
      const error = connect(
        tlsError(
          code,
          'unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca',
        ),
      );
      expect(error.message).toBe(
        `integration "orders": could not connect to the database: the server's TLS certificate is not trusted (unable to verify the first certificate, ${code}): give the CA that issued it with connection.ssl.caFile (a PEM file) or ssl.ca, or to the whole agent with NODE_EXTRA_CA_CERTS`,
      );
      expect(error.details).toEqual({ integration: 'orders', errorCode: code });
    },
  );

  it('says an expired certificate has expired, and one for another name is not for the host, without naming the host', () => {
    expect(connect(tlsError('CERT_HAS_EXPIRED', 'certificate has expired')).message).toMatch(
      /: the server's TLS certificate has expired \(CERT_HAS_EXPIRED\)$/,
    );
    const wrongName = connect(
      tlsError(
        'ERR_TLS_CERT_ALTNAME_INVALID',
        "Hostname/IP does not match certificate's altnames: Host: db.internal.example. is not in the cert's altnames: DNS:other.example",
      ),
    );
    expect(wrongName.message).toMatch(
      /: the server's TLS certificate is not for the host connected to \(ERR_TLS_CERT_ALTNAME_INVALID\)/,
    );
    expect(wrongName.message).not.toContain('db.internal.example');
  });
});

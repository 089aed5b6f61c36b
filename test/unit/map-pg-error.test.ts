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

import { describe, expect, it } from 'vitest';
import { findLeaks, secretsIn } from '../support/leak-check.js';

// The leak search that every startTestAgent-based file runs on close must itself be able to fail.
describe('the leak search used by the integration tests', () => {
  const stored = [
    JSON.stringify({ username: 'app_user', password: 'p@ss w0rd/+é', host: 'db.internal', port: 5432 }),
    'plain-api-key-123',
    'short',
  ];

  it('searches the strings under secret-named keys of JSON secrets, and non-JSON secrets whole', () => {
    expect(secretsIn(stored).sort()).toEqual(['p@ss w0rd/+é', 'plain-api-key-123'].sort());
  });

  it.each([
    ['as itself', 'p@ss w0rd/+é'],
    ['URL-encoded', encodeURIComponent('p@ss w0rd/+é')],
    ['in base64', Buffer.from('p@ss w0rd/+é').toString('base64')],
    ['in base64url', Buffer.from('p@ss w0rd/+é').toString('base64url')],
    ['JSON-escaped', JSON.stringify('p@ss w0rd/+é').slice(1, -1)],
    ['inside a postgres:// URI', `postgres://app_user:${encodeURIComponent('p@ss w0rd/+é')}@db.internal/app`],
  ])('finds a secret %s, naming the place but not the secret', (_form, text) => {
    const findings = findLeaks([{ where: 'log line 3', text: `{"msg":"${text}"}` }], secretsIn(stored));
    expect(findings.length).toBeGreaterThan(0);
    expect(findings[0]).toMatch(/^log line 3: secret #\d/);
    expect(findings.join('\n')).not.toContain('p@ss');
  });

  it('finds nothing in text that holds no secret, such as the user name and host', () => {
    expect(
      findLeaks([{ where: 'response', text: 'app_user@db.internal:5432 ******** short' }], secretsIn(stored)),
    ).toEqual([]);
  });
});

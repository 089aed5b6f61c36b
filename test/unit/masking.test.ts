import { describe, it, expect } from 'vitest';
import { MASK, SecretMasker, isSecretKey } from '../../src/masking/index.js';

const secret = 'S3cr3t-Pa$$w0rd/+?é';

function maskerWith(...values: string[]): SecretMasker {
  const masker = new SecretMasker();
  masker.addAll(values);
  return masker;
}

describe('SecretMasker.mask', () => {
  it('masks a secret as a whole text and inside a longer text', () => {
    const masker = maskerWith(secret);
    expect(masker.mask(secret)).toBe(MASK);
    expect(masker.mask(`login failed for app with ${secret}, retrying`)).toBe(
      `login failed for app with ${MASK}, retrying`,
    );
    expect(masker.mask(`${secret}${secret}`)).toBe(`${MASK}${MASK}`);
    expect(masker.mask(`ends with ${secret}`)).toBe(`ends with ${MASK}`);
    expect(masker.mask(`${secret.slice(0, 5)} is not the secret`)).toBe(`${secret.slice(0, 5)} is not the secret`);
  });

  it('masks the URL-encoded, base64, base64url and JSON-escaped forms', () => {
    const masker = maskerWith(secret, 'line1\n"quoted"\\x');
    const base64 = Buffer.from(secret, 'utf8').toString('base64');
    const base64url = Buffer.from(secret, 'utf8').toString('base64url');
    expect(base64).not.toBe(base64url);
    expect(masker.mask(`q=${encodeURIComponent(secret)}&x=1`)).toBe(`q=${MASK}&x=1`);
    expect(masker.mask(`Basic ${base64}`)).toBe(`Basic ${MASK}`);
    expect(masker.mask(`token ${base64url}.`)).toBe(`token ${MASK}.`);
    expect(masker.mask(JSON.stringify({ note: 'line1\n"quoted"\\x' }))).toBe(`{"note":"${MASK}"}`);
  });

  it('masks a password inside a postgres:// URI, percent-encoded or not', () => {
    const masker = maskerWith('pa$sw0rd!');
    expect(masker.mask('connect postgres://user:pa%24sw0rd!@host/db failed')).toBe(
      `connect postgres://user:${MASK}@host/db failed`,
    );
    expect(masker.mask('postgres://user:pa$sw0rd!@host/db')).toBe(`postgres://user:${MASK}@host/db`);
  });

  it.each([
    ['after a digit', 'dsn=2postgres://app:Sup3rS3cretPw@db/x', `dsn=2postgres://app:${MASK}@db/x`],
    [
      'with a scheme over 32 characters',
      `${'a'.repeat(40)}://app:Sup3rS3cretPw@db/x`,
      `${'a'.repeat(40)}://app:${MASK}@db/x`,
    ],
  ])('masks a URI password it was never told about %s', (_case, text, masked) => {
    expect(new SecretMasker().mask(text)).toBe(masked);
  });

  it('masks a text with a very long run of letters before :// (the quadratic regex stalled for minutes here)', () => {
    const text = `${'a'.repeat(200_000)}://app:pw@db`;
    expect(new SecretMasker().mask(text)).toContain(`://app:${MASK}@db`);
  });

  it('masks a URI password it was never told about, keeping user, host and database readable', () => {
    const masker = new SecretMasker();
    expect(masker.mask('"postgres://user:pa%24s@host:5432/db"')).toBe(`"postgres://user:${MASK}@host:5432/db"`);
    expect(masker.mask('postgres://user@host/db and https://example.com:8443/x')).toBe(
      'postgres://user@host/db and https://example.com:8443/x',
    );
  });

  it('masks values shorter than six characters only when the whole text equals them', () => {
    const masker = maskerWith('admin', 'pw1');
    expect(masker.mask('admin')).toBe(MASK);
    expect(masker.mask('pw1')).toBe(MASK);
    expect(masker.mask('the admin user logged in with pw1')).toBe('the admin user logged in with pw1');
    expect(masker.mask(' admin')).toBe(' admin');
  });

  it('leaves ordinary text alone', () => {
    const masker = maskerWith(secret, 'hunter22', 'correct-horse');
    const line = 'GET /integrations/demo-postgres/query 200 12ms user=app host=db:5432';
    expect(masker.mask(line)).toBe(line);
    expect(masker.mask('')).toBe('');
  });

  it('masks overlapping secrets as one span, leaving no part of either readable', () => {
    const masker = maskerWith('abcdefgh', 'efghijkl');
    expect(masker.mask('x abcdefghijkl y')).toBe(`x ${MASK} y`);
  });

  it('treats regular-expression characters in secrets literally', () => {
    const tricky = '.*+?^${}()|[]\\/';
    const masker = maskerWith(tricky);
    expect(masker.mask(`a ${tricky} b`)).toBe(`a ${MASK} b`);
    expect(masker.mask('a anything at all b')).toBe('a anything at all b');
  });

  it('ignores the empty string', () => {
    const masker = maskerWith('');
    expect(masker.size).toBe(0);
    expect(masker.mask('text')).toBe('text');
  });

  // How fast masking is lives in `npm run bench`, not here (no timing thresholds in tests).
  it('masks one of a thousand known secrets in a line and leaves a line without one untouched', () => {
    const secrets = Array.from({ length: 1000 }, (_, i) => `secret-${i}-${(i * 7919).toString(36)}-value`);
    const masker = maskerWith(...secrets);
    const line = `level=info msg="query done" integration=demo-postgres rows=12 ${'x'.repeat(120)}`.slice(0, 200);
    const withSecret = `${line.slice(0, 80)}${secrets[500]}${line.slice(80)}`;
    expect(masker.mask(withSecret)).toBe(`${line.slice(0, 80)}${MASK}${line.slice(80)}`);
    expect(masker.mask(line)).toBe(line);
  });
});

describe('SecretMasker parent and child', () => {
  it('lets a child mask everything its parent knows', () => {
    const parent = maskerWith('parent-secret');
    const child = new SecretMasker(parent);
    expect(child.mask('x parent-secret y')).toBe(`x ${MASK} y`);
    expect(child.knows('parent-secret')).toBe(true);
  });

  it('registers what a child learns in the parent too', () => {
    const parent = new SecretMasker();
    const child = new SecretMasker(parent);
    const grandchild = new SecretMasker(child);
    grandchild.add('learned-in-a-run');
    expect(parent.knows('learned-in-a-run')).toBe(true);
    expect(parent.mask('x learned-in-a-run y')).toBe(`x ${MASK} y`);
    expect(new SecretMasker(parent).mask('learned-in-a-run')).toBe(MASK);
  });

  it('counts in size what was registered through each masker', () => {
    const parent = maskerWith('global-secret');
    const child = new SecretMasker(parent);
    child.addAll(['run-secret-1', 'run-secret-2', 'run-secret-1']);
    expect(child.size).toBe(2);
    expect(parent.size).toBe(3);
  });
});

describe('SecretMasker.addSecretsIn', () => {
  it('registers string leaves under secret-named keys, in nested objects and arrays', () => {
    const masker = new SecretMasker();
    masker.addSecretsIn({
      host: 'db.internal',
      username: 'app-user',
      password: 'top-secret-1',
      nested: { apiKey: 'key-value-12', tokens: ['token-aaaaaa', { deeper: 'token-bbbbbb' }] },
      port: 5432,
    });
    for (const value of ['top-secret-1', 'key-value-12', 'token-aaaaaa', 'token-bbbbbb']) {
      expect(masker.knows(value), value).toBe(true);
    }
    expect(masker.knows('db.internal')).toBe(false);
    expect(masker.knows('app-user')).toBe(false);
  });

  it('registers the password part of a postgres:// URI leaf under any key', () => {
    const masker = new SecretMasker();
    masker.addSecretsIn({
      url: 'postgres://app:pa%24sw0rd!@db/app',
      dsn: 'postgres://db/app?user=app&password=q%26uery-pw',
    });
    expect(masker.knows('pa$sw0rd!')).toBe(true);
    expect(masker.knows('q&uery-pw')).toBe(true);
    expect(masker.mask('the password was pa$sw0rd!')).toBe(`the password was ${MASK}`);
    expect(masker.knows('postgres://app:pa%24sw0rd!@db/app')).toBe(false);
  });
});

describe('SecretMasker.maskValue', () => {
  it('masks values under secret-named keys structurally and the rest by value, without touching the input', () => {
    const masker = maskerWith('known-hidden-value');
    const input = {
      host: 'db.internal',
      port: 5432,
      user: 'app',
      ssl: true,
      password: 'whatever',
      pin: null,
      credentials: { username: 'svc', nested: [{ value: 'x' }, 42, false, null] },
      connectionString: 'postgres://app:pw-in-uri@db/app',
      note: 'contains known-hidden-value here',
      list: ['known-hidden-value', 1],
      'known-hidden-value': 'key is masked too',
    };
    const snapshot = structuredClone(input);
    expect(masker.maskValue(input)).toEqual({
      host: 'db.internal',
      port: 5432,
      user: 'app',
      ssl: true,
      password: MASK,
      pin: null,
      credentials: { username: MASK, nested: [{ value: MASK }, MASK, MASK, null] },
      connectionString: `postgres://app:${MASK}@db/app`,
      note: `contains ${MASK} here`,
      list: [MASK, 1],
      [MASK]: 'key is masked too',
    });
    expect(input).toEqual(snapshot);
  });

  it('masks numbers under secret keys and keeps a __proto__ key as data', () => {
    const masker = new SecretMasker();
    const input = JSON.parse('{"__proto__": {"token": 123}, "apiKey": 7}') as Record<string, unknown>;
    const masked = masker.maskValue(input);
    expect(Object.getPrototypeOf(masked)).toBe(Object.prototype);
    expect(masked).toEqual(JSON.parse(`{"__proto__": {"token": "${MASK}"}, "apiKey": "${MASK}"}`));
  });

  it('survives a reference cycle', () => {
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic.self = cyclic;
    expect(new SecretMasker().maskValue(cyclic)).toEqual({ name: 'a', self: '[Circular]' });
  });
});

describe('isSecretKey', () => {
  const table: [string, boolean][] = [
    ['password', true],
    ['PGPASSWORD', true],
    ['db_password', true],
    ['passwd', true],
    ['pwd', true],
    ['db_pwd', true],
    ['secret', true],
    ['clientSecret', true],
    // AWS's identifiers of a secret are names; AppRole's secret_id is a credential.
    ['SecretId', false],
    ['SecretIdList', false],
    ['secret_id', true],
    ['secretId', true],
    ['AWS_SECRET_ACCESS_KEY', true],
    ['token', true],
    ['accessToken', true],
    ['sessiontoken', true],
    ['SessionToken', true],
    ['key', true],
    ['apiKey', true],
    ['api_key', true],
    ['x-api-key', true],
    ['APIKey', true],
    ['apikey', true],
    ['private_key', true],
    ['privateKey', true],
    ['accessKey', true],
    ['credential', true],
    ['credentials', true],
    ['auth', true],
    ['basicAuth', true],
    ['Authorization', true],
    ['signature', true],
    ['X-Amz-Signature', true],
    ['host', false],
    ['port', false],
    ['user', false],
    ['username', false],
    ['database', false],
    ['dbname', false],
    ['engine', false],
    ['keyspace', false],
    ['monkey', false],
    ['keyId', false],
    ['accessKeyId', false],
    ['primary_key', false],
    ['foreignKey', false],
    ['author', false],
    ['authMethod', false],
    ['passport', false],
    ['connectionString', false],
    ['connection_string', false],
    ['uri', false],
    ['url', false],
    ['sslmode', false],
  ];
  it.each(table)('classifies %s as secret: %s', (key, expected) => {
    expect(isSecretKey(key)).toBe(expected);
  });
});

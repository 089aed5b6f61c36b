import fc from 'fast-check';
import type pino from 'pino';
import { describe, expect, it } from 'vitest';
import { readAgentSettings } from '../../src/config/index.js';
import { CredflowError } from '../../src/errors.js';
import { createLogger, requestLines } from '../../src/logging/index.js';
import { MASK, SecretMasker } from '../../src/masking/index.js';
import { scrubFragments } from '../../src/masking/scrub-fragments.js';

/** The runs of six characters of `secret` still readable in `text`. */
function fragmentsLeft(text: string, secret: string): string[] {
  const left: string[] = [];
  for (let i = 0; i + 6 <= secret.length; i++)
    if (text.includes(secret.slice(i, i + 6))) left.push(secret.slice(i, i + 6));
  return left;
}

/** The message V8 or Node gives when `run` throws. */
function thrown(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
  return '';
}

/** Error texts quoting (part of) a secret, as step code gets them from V8 and Node. */
function errorTextsFor(secret: string, from: number, to: number): string[] {
  return [
    thrown(() => JSON.parse(secret)),
    thrown(() => JSON.parse(`{"a":${secret}}`)),
    thrown(() => JSON.parse(`"${secret}`)),
    thrown(() => atob(secret)),
    thrown(() => new URL(secret)),
    thrown(() => new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(secret, 'latin1'))),
    thrown(() => {
      throw new Error(`key ${secret.slice(from, to)} was refused`);
    }),
    `${thrown(() => JSON.parse(secret))} at step "fetch" ${JSON.stringify({ input: secret.slice(from) })}`,
  ];
}

// Secrets never hold '*': a run of MASK's own characters would otherwise be "left" in any masked text.
const secretChar = fc.constantFrom(
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/=.:{}"\'$%&@!?éß€ '.split(''),
);
const secretArb = fc.array(secretChar, { minLength: 8, maxLength: 64 }).map((chars) => chars.join(''));

describe('SecretMasker fragments (issue 10, section 3)', () => {
  it('leaves no run of six characters of a secret in the error texts V8 and Node produce from it', () => {
    fc.assert(
      fc.property(secretArb, fc.nat(), fc.nat(), (secret, a, b) => {
        const masker = new SecretMasker(new SecretMasker());
        masker.add(secret);
        const from = a % secret.length;
        const to = from + (b % (secret.length - from + 1));
        for (const text of errorTextsFor(secret, from, to))
          expect(fragmentsLeft(masker.mask(text), secret)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("scrubs a run's error against the values the run read, whatever the agent-wide masker still holds", () => {
    fc.assert(
      fc.property(secretArb, fc.nat(), (secret, a) => {
        const from = a % secret.length;
        for (const text of errorTextsFor(secret, from, secret.length))
          expect(fragmentsLeft(scrubFragments(text, [secret], MASK), secret)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('masks the window JSON.parse quotes of a plaintext API key', () => {
    const masker = new SecretMasker(new SecretMasker());
    masker.add('sk_live_51Hxyz9QeRtY7uIoP3aSdF');
    const text = thrown(() => JSON.parse('sk_live_51Hxyz9QeRtY7uIoP3aSdF'));
    expect(text).toContain('"sk_live_51"');
    expect(masker.mask(text)).toContain(`"${MASK}"...`);
  });

  it('does not fragment a JSON document learnt whole: its keys stay readable', () => {
    const masker = new SecretMasker(new SecretMasker());
    masker.add('{"username":"app","password":"hunter2-long"}', false);
    masker.addSecretsIn({ username: 'app', password: 'hunter2-long' });
    expect(masker.mask('the username and password fields')).toBe('the username and password fields');
    expect(masker.mask('pw hunter2-l…')).toBe(`pw ${MASK}…`);
  });
});

describe('SecretMasker bounds (issue 10, section 4)', () => {
  const limits = { maxSecrets: 4, maxBytes: 100 };

  it('forgets the least recently learnt value no cache entry holds once the count bound is reached', () => {
    const root = new SecretMasker(undefined, limits);
    const run = new SecretMasker(root);
    const values = ['Alpha1Alpha1', 'Bravo2Bravo2', 'Charlie3Charl', 'Delta4Delta4', 'Echo5Echo5Ec', 'Foxtrot6Foxt'];
    run.addAll(values);
    expect(root.learntUsage.secrets).toBe(4);
    expect(root.knows('Alpha1Alpha1')).toBe(false);
    expect(root.knows('Bravo2Bravo2')).toBe(false);
    expect(root.knows('Foxtrot6Foxt')).toBe(true);
    expect(root.mask('x Alpha1Alpha1 y')).toBe('x Alpha1Alpha1 y');
    expect(root.mask('x Foxtrot6Foxt y')).toBe(`x ${MASK} y`);
  });

  it("bounds the bytes learnt and never counts the agent's configured secrets", () => {
    const root = new SecretMasker(undefined, limits);
    root.addAll(['configured-secret-a', 'configured-secret-b']);
    const run = new SecretMasker(root);
    run.add('a'.repeat(60));
    run.add('b'.repeat(60));
    expect(root.learntUsage).toEqual({ secrets: 1, bytes: 60 });
    expect(root.knows('a'.repeat(60))).toBe(false);
    expect(root.knows('configured-secret-a')).toBe(true);
  });

  it('keeps the values a cache entry holds, refuses past the bound while they fill it, and makes room once released', () => {
    const root = new SecretMasker(undefined, limits);
    const run = new SecretMasker(root);
    run.addAll(['held-secret-1', 'held-secret-2', 'held-secret-3', 'held-secret-4']);
    root.hold('entry-a', run.learnt);
    const next = new SecretMasker(root);
    expect(() => next.add('one-more-secret')).toThrow(CredflowError);
    expect(() => next.add('one-more-secret')).toThrow(/CREDFLOW_MASKER_MAX_SECRETS=4/);
    expect(root.mask('held-secret-1')).toBe(MASK);
    root.release('entry-a');
    next.add('one-more-secret');
    expect(root.knows('one-more-secret')).toBe(true);
    expect(root.knows('held-secret-1')).toBe(false);
    expect(root.knows('held-secret-4')).toBe(true);
  });

  it("forgets a value's forms and fragments but keeps those another secret still needs", () => {
    const root = new SecretMasker(undefined, { maxSecrets: 1, maxBytes: 1000 });
    root.add('shared-prefix-configured');
    const run = new SecretMasker(root);
    run.add('shared-prefix-learnt');
    run.add('something-else-entirely');
    expect(root.mask('x shared-prefix-learnt y')).toBe(`x ${MASK}learnt y`);
    expect(root.mask(Buffer.from('shared-prefix-learnt').toString('base64'))).toBe(
      Buffer.from('shared-prefix-learnt').toString('base64'),
    );
  });

  it('does not learn a value equal to a configured integration or workflow name', () => {
    const root = new SecretMasker();
    root.declareNames(['demo-postgres', 'getSecrets']);
    new SecretMasker(root).add('demo-postgres');
    expect(root.knows('demo-postgres')).toBe(false);
    expect(root.mask('no integration named "demo-postgres"')).toBe('no integration named "demo-postgres"');
  });
});

describe('log lines with hostile registrations (issue 10, section 4)', () => {
  const hostile = [
    'previewtok',
    '"event":"audit"',
    'demo-postgres',
    '{',
    ':',
    'audit',
    '","',
    'level',
    '"msg":"',
    '30,"time"',
  ];

  function loggerWith(masker: SecretMasker): { logger: pino.Logger; lines: string[] } {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      masker,
      destination: { write: (text: string) => void lines.push(...text.split('\n').filter((l) => l !== '')) },
    });
    return { logger, lines };
  }

  it('writes valid JSON lines, with keys, events, token ids, routes and names intact, whatever is registered', () => {
    const masker = new SecretMasker();
    masker.declareNames(['demo-postgres']);
    masker.addAll(hostile);
    new SecretMasker(masker).addAll(hostile);
    const { logger, lines } = loggerWith(masker);
    const audit = requestLines(logger);
    const fields = {
      event: 'audit',
      action: 'preview',
      tokenId: 'previewtok',
      route: 'POST /api/v1/workflows/:name/run',
      integration: 'demo-postgres',
      workflow: 'getSecrets',
      outcome: 'ok',
    };
    audit.info(fields, 'audit', 3);
    audit.flush();
    logger.warn(
      { event: 'workflow.run', workflow: 'getSecrets', error: 'SyntaxError: "event":"audit" previewtok { : audit' },
      'workflow run failed',
    );
    logger.info(
      {
        event: 'audit',
        action: 'access',
        tokenId: 'previewtok',
        route: 'GET /api/v1/integrations/previewtok',
        outcome: 'forbidden',
      },
      'access denied',
    );
    logger.error({ err: new Error('failed with previewtok') }, 'boom');
    expect(lines).toHaveLength(4);
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed[0]).toMatchObject({ ...fields, durationMs: 3, msg: 'audit', level: 30 });
    expect(parsed[1]).toMatchObject({ event: 'workflow.run', workflow: 'getSecrets', level: 40 });
    expect(parsed[1]?.error).not.toContain('previewtok');
    expect(parsed[2]).toMatchObject({
      event: 'audit',
      action: 'access',
      tokenId: 'previewtok',
      route: `GET /api/v1/integrations/${MASK}`,
      outcome: 'forbidden',
    });
    expect(parsed[3]?.err).toMatchObject({ type: 'Error', message: `failed with ${MASK}` });
    for (const line of parsed) for (const key of Object.keys(line)) expect(key).not.toContain(MASK);
  });
});

describe('logged errors', () => {
  it('keep the name of their class and a masked message, at the top level or under err', () => {
    const masker = new SecretMasker();
    const secret = 'sk_live_51HxyzQWERTY0987abc';
    new SecretMasker(masker).add(secret);
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      masker,
      destination: { write: (text: string) => void lines.push(...text.split('\n').filter((l) => l !== '')) },
    });
    let error: unknown;
    try {
      JSON.parse(secret);
    } catch (e) {
      error = e;
    }
    logger.error(error, 'parse failed');
    logger.error({ err: error }, 'parse failed');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const err = (JSON.parse(line) as { err: { type: string; message: string } }).err;
      expect(err.type).toBe('SyntaxError');
      expect(err.message).not.toContain(secret.slice(0, 6));
    }
  });
});

describe('SecretMasker.maskValue with fragments', () => {
  it('keeps a key that shares six characters with a secret, and masks the value', () => {
    const masker = new SecretMasker(new SecretMasker());
    masker.add('password-is-hunter2');
    expect(masker.maskValue({ password: 'password-is-hunter2', note: 'the password-is-h… prefix' })).toEqual({
      password: MASK,
      note: `the ${MASK}… prefix`,
    });
  });
});

describe('masker settings', () => {
  it('reads CREDFLOW_MASKER_MAX_SECRETS and CREDFLOW_MASKER_MAX_BYTES, and refuses a bound too small, naming the variable', () => {
    expect(
      readAgentSettings({ CREDFLOW_MASKER_MAX_SECRETS: '100', CREDFLOW_MASKER_MAX_BYTES: '70000' }).masker,
    ).toEqual({ maxSecrets: 100, maxBytes: 70_000 });
    expect(() => readAgentSettings({ CREDFLOW_MASKER_MAX_SECRETS: '0' })).toThrow(/CREDFLOW_MASKER_MAX_SECRETS/);
  });
});

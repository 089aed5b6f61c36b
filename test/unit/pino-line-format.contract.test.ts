import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/index.js';
import { lineFormat, rawTargetOf } from '../../src/logging/pino-line-format.js';
import { SecretMasker } from '../../src/masking/index.js';
import { captureLogs } from '../support/capture-logs.js';

/**
 * What src/logging/pino-line-format.ts relies on in pino, checked against the installed pino: a
 * line built by hand is the line pino itself writes for the same fields. An upgrade that changes
 * pino's format fails here.
 */
const require = createRequire(import.meta.url);
const pinned = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    dependencies: Record<string, string>;
  }
).dependencies;

const time = /"time":"[^"]*"/;

const cases: [name: string, fields: Record<string, unknown>, message: string, durationMs?: number][] = [
  [
    'an audit line',
    { event: 'audit', action: 'query', tokenId: 'ops', integration: 'orders', outcome: 'ok' },
    'audit',
    12.4,
  ],
  ['no fields and no duration', {}, 'bare'],
  ['undefined values left out', { event: 'e', workflow: undefined, profile: 'default' }, 'resolved', 0.5],
  [
    'text JSON escapes',
    { event: 'e', integration: 'odd "name" \\ \n\t é 中 \u0001', nested: { list: [1, 'two', null, true] } },
    'quote " and \\ in the message',
    3,
  ],
  [
    'numbers, booleans and null',
    { event: 'n', count: 3, ratio: 0.25, big: 1e21, flag: false, none: null },
    'numbers',
    1999.5,
  ],
];

describe('pino line format (the contract of src/logging/pino-line-format.ts)', () => {
  it('runs on the exact pino version package.json pins', () => {
    expect(pinned.pino).toMatch(/^\d+\.\d+\.\d+$/);
    expect((require('pino/package.json') as { version: string }).version).toBe(pinned.pino);
  });

  it.each(cases)('builds %s exactly as pino writes it', (_name, fields, message, durationMs) => {
    const logs = captureLogs();
    const logger = createLogger({ level: 'info', masker: new SecretMasker(), destination: logs });
    const raw = rawTargetOf(logger);
    if (raw === undefined) throw new Error('a logger made by createLogger has a raw target');
    const at = Date.now();
    logger.info(durationMs === undefined ? fields : { ...fields, durationMs: Math.round(durationMs) }, message);
    const ours = lineFormat(raw)(fields, message, durationMs, at);
    const theirs = logs.lines[0] as string;
    // Byte for byte, but for the time, which pino takes itself.
    expect(ours.replace(time, '"time":""')).toBe(theirs.replace(time, '"time":""'));
    const parsed = JSON.parse(ours) as Record<string, unknown>;
    const expected = JSON.parse(theirs) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(Object.keys(expected));
    expect(parsed.time).toBe(new Date(at).toISOString());
    expect({ ...parsed, time: undefined }).toEqual({ ...expected, time: undefined });
  });
});

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, requestLines } from '../../src/logging/index.js';
import { SecretMasker } from '../../src/masking/index.js';
import { captureLogs } from '../support/capture-logs.js';

const withoutTime = (line: string) => {
  const { time, ...rest } = JSON.parse(line) as { time: string };
  expect(new Date(time).toISOString()).toBe(time);
  return rest;
};

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const after = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('requestLines', () => {
  it('writes the same line as pino does for a logger made by createLogger, whose time is an ISO instant', async () => {
    const logs = captureLogs();
    const logger = createLogger({ level: 'info', masker: new SecretMasker(), destination: logs });
    const fields = {
      event: 'audit',
      action: 'query',
      tokenId: 'ops',
      integration: 'orders "eu"',
      workflow: undefined,
      outcome: 'ok',
    };
    logger.info({ ...fields, durationMs: 12 }, 'audit');
    requestLines(logger).info(fields, 'audit', 12.4);
    await after(30);
    expect(logs.lines).toHaveLength(2);
    expect(logs.lines[1]?.endsWith('}\n')).toBe(true);
    expect(withoutTime(logs.lines[1] as string)).toEqual(withoutTime(logs.lines[0] as string));
    expect(Object.keys(withoutTime(logs.lines[1] as string))).toEqual(
      Object.keys(withoutTime(logs.lines[0] as string)),
    );
  });

  it('queues lines and writes them in order 10 ms after the first, each with its own duration', async () => {
    const logs = captureLogs();
    const lines = requestLines(createLogger({ level: 'info', masker: new SecretMasker(), destination: logs }));
    for (const [i, tokenId] of ['a', 'b', 'a', 'a'].entries()) lines.info({ event: 'audit', tokenId }, 'audit', i);
    lines.info({ event: 'x' }, 'no duration');
    expect(logs.lines).toEqual([]);
    await nextTurn();
    expect(logs.lines).toEqual([]);
    await after(30);
    expect(logs.lines).toHaveLength(5);
    const parsed = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => [p.tokenId, p.durationMs])).toEqual([
      ['a', 0],
      ['b', 1],
      ['a', 2],
      ['a', 3],
      [undefined, undefined],
    ]);
    expect(parsed[4]).toMatchObject({ level: 30, service: 'credflow', event: 'x', msg: 'no duration' });
  });

  it('writes a batch of 32 queued lines in the next turn of the event loop, in order', async () => {
    const logs = captureLogs();
    const lines = requestLines(createLogger({ level: 'info', masker: new SecretMasker(), destination: logs }));
    for (let i = 0; i < 40; i++) lines.info({ event: 'n', i }, 'numbered', i);
    expect(logs.lines).toEqual([]);
    await nextTurn();
    expect(logs.lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('writes what is still queued when flushed, once', async () => {
    const logs = captureLogs();
    const lines = requestLines(createLogger({ level: 'info', masker: new SecretMasker(), destination: logs }));
    lines.info({ event: 'c' }, 'third', 1);
    lines.flush();
    expect(logs.lines).toHaveLength(1);
    await after(30);
    expect(logs.lines).toHaveLength(1);
  });

  it('masks known secrets, and masks a remembered line again once the masker learns a secret in it', () => {
    const logs = captureLogs();
    const masker = new SecretMasker();
    masker.add('first-secret-value');
    const lines = requestLines(createLogger({ level: 'info', masker, destination: logs }));
    lines.info({ event: 'e', profile: 'first-secret-value', integration: 'later-secret-value' }, 'resolved', 1);
    lines.flush();
    expect(logs.lines[0]).not.toContain('first-secret-value');
    expect(logs.lines[0]).toContain('later-secret-value');
    masker.add('later-secret-value');
    lines.info({ event: 'e', profile: 'first-secret-value', integration: 'later-secret-value' }, 'resolved', 1);
    lines.flush();
    expect(logs.lines[1]).not.toContain('first-secret-value');
    expect(logs.lines[1]).not.toContain('later-secret-value');
    expect(JSON.parse(logs.lines[1] as string)).toMatchObject({ profile: '********', integration: '********' });
  });

  it('writes nothing when the logger does not log info', () => {
    const logs = captureLogs();
    const lines = requestLines(createLogger({ level: 'warn', masker: new SecretMasker(), destination: logs }));
    lines.info({ event: 'd' }, 'dropped', 1);
    lines.flush();
    expect(logs.lines).toEqual([]);
  });

  it('writes through logger.info for any other logger, with the duration rounded', () => {
    const logs = captureLogs();
    requestLines(pino({ level: 'info' }, logs)).info({ event: 'f' }, 'other', 2.6);
    expect(JSON.parse(logs.lines[0] as string)).toMatchObject({ event: 'f', durationMs: 3, msg: 'other' });
  });
});

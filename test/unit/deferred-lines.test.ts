import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { deferredLines } from '../../src/logging/index.js';
import { captureLogs } from '../support/capture-logs.js';

const eventsOf = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { event: string }).event);

describe('deferredLines', () => {
  it('writes queued lines in order in the next turn of the event loop, not before', async () => {
    const logs = captureLogs();
    const lines = deferredLines(pino({ level: 'info' }, logs));
    lines.info({ event: 'a' }, 'first');
    lines.info({ event: 'b' }, 'second');
    expect(logs.lines).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(eventsOf(logs.lines)).toEqual(['a', 'b']);
  });

  it('writes what is still queued when flushed, once', async () => {
    const logs = captureLogs();
    const lines = deferredLines(pino({ level: 'info' }, logs));
    lines.info({ event: 'c' }, 'third');
    lines.flush();
    expect(eventsOf(logs.lines)).toEqual(['c']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(eventsOf(logs.lines)).toEqual(['c']);
  });

  it('queues nothing when the logger does not log info', async () => {
    const logs = captureLogs();
    const lines = deferredLines(pino({ level: 'warn' }, logs));
    lines.info({ event: 'd' }, 'dropped');
    lines.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(logs.lines).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { createLogger, requestLines } from '../../src/logging/index.js';
import { SecretMasker } from '../../src/masking/index.js';
import { captureLogs } from '../support/capture-logs.js';

// What a caller or a database can put in a logged string: CSI as a C1 control (U+009B), DEL, a bidi
// override, a line separator; and ESC and CR, which JSON escapes by itself.
const hostile = 'orders\u009b2K\u007f\u202egnp.exe\u2028\u001b[31m\r';
// eslint-disable-next-line no-control-regex -- the characters this test looks for
const raw = /[\u001b\r\u007f-\u009f\u202e\u2028]/;

describe('JSON log lines on a terminal', () => {
  it('writes C1 controls, DEL, bidi controls and line separators as \\u escapes, keeping the value', () => {
    const logs = captureLogs();
    const logger = createLogger({ level: 'info', masker: new SecretMasker(), destination: logs });
    logger.warn({ event: 'audit', integration: hostile, nested: { why: hostile } }, 'audit');
    const lines = requestLines(logger);
    lines.info({ event: 'audit', integration: hostile }, 'audit', 1);
    lines.flush();
    expect(logs.lines).toHaveLength(2);
    for (const line of logs.lines) {
      expect(line).not.toMatch(raw);
      expect(line).toContain('\\u009b');
      expect((JSON.parse(line) as { integration: string }).integration).toBe(hostile);
    }
    expect((JSON.parse(logs.lines[0] as string) as { nested: { why: string } }).nested.why).toBe(hostile);
  });
});

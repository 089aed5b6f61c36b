import { describe, expect, it } from 'vitest';
import { formatTable } from '../../src/cli/format-table.js';
import { safeCell, safeJsonText, safeLines, safeMessage } from '../../src/cli/safe-text.js';

/** Every character the CLI must not print raw (issue 19, section 4). */
const unsafe = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  0x7f,
  ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i),
  0x061c,
  0x200e,
  0x200f,
  0x2028,
  0x2029,
  0x202a,
  0x202b,
  0x202c,
  0x202d,
  0x202e,
  0x2066,
  0x2067,
  0x2068,
  0x2069,
].map((code) => String.fromCharCode(code));

const raw = new RegExp(`[${unsafe.map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}]`);

describe('escaping text the CLI prints for reading (issue 19, section 4)', () => {
  it('shows ESC, CR and the other C0 controls, DEL and C1 as \\xHH, \\r, \\n and \\t in a cell', () => {
    expect(safeCell('\x1b[31mRED\x1b[0m')).toBe('\\x1b[31mRED\\x1b[0m');
    expect(safeCell('ok\rSPOOF')).toBe('ok\\rSPOOF');
    expect(safeCell('a\nb\tc\0d\x7fe\x9b2Jf\x85g')).toBe('a\\nb\\tc\\x00d\\x7fe\\x9b2Jf\\x85g');
  });

  it('shows bidi overrides, isolates, marks and the line and paragraph separators as \\uHHHH', () => {
    expect(safeCell('txt.\u202eexe')).toBe('txt.\\u202eexe');
    expect(safeCell('\u2066a\u2069\u2028\u2029\u200e\u200f\u061c')).toBe(
      '\\u2066a\\u2069\\u2028\\u2029\\u200e\\u200f\\u061c',
    );
  });

  it('leaves no unsafe character in any of its forms, and changes nothing else', () => {
    const all = unsafe.join('');
    for (const escape of [safeCell, safeLines, safeJsonText, (t: string) => safeMessage(t)]) {
      expect(escape(all).replace(/[\n\t]/g, '')).not.toMatch(raw);
    }
    const plain = 'plain text: é, 漢字, emoji 🙂, a\\x1b written out, "quotes"';
    for (const escape of [safeCell, safeLines, safeJsonText, (t: string) => safeMessage(t)])
      expect(escape(plain)).toBe(plain);
  });

  it('keeps newlines and tabs in text of several lines, and indents the later lines of a message', () => {
    expect(safeLines('one\ttwo\nthree\r\n')).toBe('one\ttwo\nthree\\r\n');
    expect(safeMessage('bad config:\nworkflows/a.json: steps: \x1b[2Kx')).toBe(
      'bad config:\n  workflows/a.json: steps: \\x1b[2Kx',
    );
    expect(safeMessage('\x1b[2K\rcredflow: ok (0 rows)\ncredflow: ok')).toBe(
      '\\x1b[2K\\rcredflow: ok (0 rows)\n  credflow: ok',
    );
  });

  it('keeps readable JSON valid JSON of the same value', () => {
    const value = { s: 'a\x1b[31m\x7f\x9b\u202e\u2028b\r\n', n: 1, nested: ['\u2066'] };
    const text = safeJsonText(JSON.stringify(value, null, 2));
    expect(text.replace(/\n/g, '')).not.toMatch(raw);
    expect(JSON.parse(text)).toEqual(value);
  });

  it('keeps a table cell on one line and its columns aligned, escaping column names too', () => {
    const table = formatTable(
      ['\x1b[8mname', 'v'],
      [
        { '\x1b[8mname': 'a\nb\tc', v: '\u202eRTL' },
        { '\x1b[8mname': 'x', v: { k: '\x7f' } },
      ],
    );
    expect(table.split('\n')).toEqual([
      '\\x1b[8mname  v',
      '-----------  ------------',
      'a\\nb\\tc      \\u202eRTL',
      'x            {"k":"\\x7f"}',
    ]);
  });
});

import { terminalControls } from '../logging/index.js';

/**
 * Text the CLI prints for a person to read comes partly from others: rows and column names, database
 * error texts, step logs, config files. Printed raw, a value could drive the terminal (ESC sequences
 * that colour, erase or move the cursor, a carriage return that overwrites the line) or reorder what
 * it shows (Unicode bidi overrides). So every readable printer passes its text through here, and
 * these characters are shown as escapes instead:
 *
 * - C0 controls (U+0000-U+001F), DEL (U+007F) and C1 controls (U+0080-U+009F, whose U+009B is CSI):
 *   `\n`, `\r`, `\t` for those three, `\xHH` for the rest (`\x1b` for ESC);
 * - bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the bidi marks
 *   (U+061C, U+200E, U+200F), as used by "Trojan Source" text; the line and paragraph separators
 *   U+2028 and U+2029, which some terminals and viewers break lines at: `\uHHHH`.
 *
 * Newline and tab are kept only where the layout allows them. Backslashes are not doubled, so a value
 * that already holds the text `\x1b` looks the same as one holding ESC: readable output is for
 * reading, `--json` gives the exact values (JSON escapes C0 itself; the others are left as they are).
 */
// C0 besides what the agent's log lines escape (JSON escapes C0 there).
const unsafe = new RegExp(`[\\u0000-\\u001f${terminalControls}]`, 'g');

const hex = (code: number, digits: number) => code.toString(16).padStart(digits, '0');

function escapeOne(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`;
}

/** One table cell or one-line field: every unsafe character escaped, newline and tab included. */
export function safeCell(text: string): string {
  return text.replace(unsafe, escapeOne);
}

/** Text of one or more lines: newlines and tabs kept, every other unsafe character escaped. */
export function safeLines(text: string): string {
  return text.replace(unsafe, (c) => (c === '\n' || c === '\t' ? c : escapeOne(c)));
}

/**
 * JSON text for reading (`JSON.stringify(value, null, 2)`): JSON has escaped C0 inside strings
 * already; the other unsafe characters become `\uHHHH`, so the text is still JSON of the same value.
 */
export function safeJsonText(json: string): string {
  return json.replace(unsafe, (c) => (c === '\n' || c === '\t' ? c : `\\u${hex(c.charCodeAt(0), 4)}`));
}

/**
 * A message that may span lines (a config error lists its problems) printed after a prefix such as
 * `credflow: error [CODE]: `: its later lines are indented, so none of them can pass for a line of
 * its own, such as a fake `credflow: ok`.
 */
export function safeMessage(text: string, indent = '  '): string {
  return safeLines(text).replace(/\n/g, `\n${indent}`);
}

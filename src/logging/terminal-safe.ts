/**
 * Characters JSON leaves as they are inside strings but a terminal or a log viewer may act on: DEL,
 * the C1 controls (U+0080-U+009F; U+009B is CSI, which some terminals take as ESC [), the bidi
 * controls used by "Trojan Source" text and the line and paragraph separators. C0 controls are
 * escaped by JSON itself. A regular-expression character class body, shared with the CLI's
 * readable output (src/cli/safe-text.ts), which escapes C0 besides.
 */
export const terminalControls = '\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const unsafeOne = new RegExp(`[${terminalControls}]`);
const unsafeAll = new RegExp(`[${terminalControls}]`, 'g');

/**
 * A JSON log line with those characters written as `\uHHHH`: still JSON of the same value (they can
 * only occur inside strings), and safe to show on a terminal (`--verbose`, `npm start`).
 */
export function terminalSafeJson(line: string): string {
  return unsafeOne.test(line)
    ? line.replace(unsafeAll, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : line;
}

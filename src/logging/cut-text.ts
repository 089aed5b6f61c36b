/** Longest caller-chosen text (a path, a name from the URL, a token id) written into a log line. */
export const maxLoggedChars = 256;

/**
 * `text` cut to `max` characters, the cut marked with what was left out: `…(+14976 chars)`. A log
 * line's size then depends on the agent, not on what a caller sends.
 */
export function cutText(text: string, max: number = maxLoggedChars): string {
  if (text.length <= max) return text;
  // Never split a surrogate pair: the line stays valid UTF-16, and so valid JSON text.
  const end = /[\uD800-\uDBFF]/.test(text.charAt(max - 1)) ? max - 1 : max;
  return `${text.slice(0, end)}…(+${text.length - end} chars)`;
}

/** cutText for optional values. */
export function cutOptional(text: string | undefined, max: number = maxLoggedChars): string | undefined {
  return text === undefined ? undefined : cutText(text, max);
}

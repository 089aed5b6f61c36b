import type { z } from 'zod';

/**
 * `connection.port`, `steps[0].code`; `(root)` for the document itself. A key that is not a plain
 * name is written as `["…"]` (JSON-quoted), so odd keys cannot break a problem line in two.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((part, i) => {
      if (typeof part === 'number') return `[${part}]`;
      const key = String(part);
      if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) return `${i === 0 ? '' : '.'}${key}`;
      return `[${JSON.stringify(key)}]`;
    })
    .join('');
}

/** Escapes line breaks, so each problem stays on one line. */
export function oneLine(text: string): string {
  return text.replace(/[\n\r\v\f\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One line per zod issue: `file: json.path: message`. */
export function formatZodIssues(file: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => `${file}: ${formatPath(issue.path)}: ${issue.message}`);
}

import { safeCell } from './safe-text.js';

/**
 * Renders rows as an aligned text table; values are shown as JSON unless they are plain strings.
 * Column names and cells are escaped with safeCell, newlines and tabs included, so one cell stays one
 * cell on one line.
 */
export function formatTable(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const cell = (value: unknown): string => {
    if (value === null || value === undefined) return '';
    if (typeof value === 'string') return safeCell(value);
    if (value instanceof Date) return value.toISOString();
    return safeCell(JSON.stringify(value) ?? String(value));
  };
  const header = columns.map(safeCell);
  const body = rows.map((row) => columns.map((c) => cell(row[c])));
  const widths = header.map((c, i) => Math.max(c.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

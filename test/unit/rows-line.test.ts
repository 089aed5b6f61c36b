import { describe, expect, it } from 'vitest';
import { rowsLine } from '../../src/cli/commands.js';

describe('the line under a query table', () => {
  it('counts the rows when nothing was dropped', () => {
    expect(rowsLine(1, 1, undefined)).toBe('(1 row)');
    expect(rowsLine(0, 0, undefined)).toBe('(0 rows)');
    expect(rowsLine(0, 5, undefined)).toBe('(5 rows)');
  });

  it('says how many rows were shown of how many, and that maxRows dropped the rest', () => {
    expect(rowsLine(2, 3, { reason: 'maxRows', limit: 2 })).toBe(
      "(2 of 3 rows shown: truncated, the integration's maxRows is 2)",
    );
  });

  it('names maxResultBytes and its limit in bytes when the size cap dropped rows', () => {
    expect(rowsLine(4, 10, { reason: 'maxResultBytes', limit: 1024 })).toBe(
      "(4 of 10 rows shown: truncated, the integration's maxResultBytes is 1024 bytes)",
    );
  });

  it('leaves out the total when the server reported none', () => {
    expect(rowsLine(4, null, { reason: 'maxRows', limit: 4 })).toBe(
      "(4 rows shown: truncated, the integration's maxRows is 4)",
    );
  });
});

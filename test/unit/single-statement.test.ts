import { describe, expect, it } from 'vitest';
import { isSingleStatement } from '../../src/postgres/single-statement.js';

// Text judged "one statement" goes to PostgreSQL over the simple protocol, which would run a second
// statement too: every doubt must answer false (the extended protocol then holds it to one).
describe('isSingleStatement', () => {
  it.each([
    'SELECT 1',
    'SELECT 1;',
    'SELECT 1;;  -- trailing comment',
    'SELECT 1; /* trailing comment */',
    "SELECT ';'",
    "SELECT 'a''b;'",
    'SELECT "a;b"',
    'SELECT $$;$$',
    'SELECT $x$ ; $x$',
    'SELECT 1 /* ; /* nested ; */ ; */',
    'SELECT 1 -- ; in a comment\n',
  ])('judges %j one statement', (sql) => {
    expect(isSingleStatement(sql)).toBe(true);
  });

  it.each([
    'SELECT 1; SELECT 2',
    'SELECT 1 ; /* c */ DROP TABLE t',
    'SELECT 1 -- ;\n; DROP TABLE t',
    // A backslash may escape the quote when standard_conforming_strings is off: not judged.
    "SELECT 'a\\' ; DROP TABLE t",
    "SELECT 'a\\'' ; DROP TABLE t; SELECT '",
    "SELECT E'a\\'b'; DROP TABLE t",
    // $b$ after an identifier character is part of the identifier, not a dollar quote.
    'SELECT a$b$; DROP TABLE t; $b$',
    'SELECT $1; DROP TABLE t',
    'SELECT 1 /* unclosed',
    "SELECT 'unclosed",
    'SELECT "unclosed',
    'SELECT $q$ unclosed',
  ])('does not vouch for %j', (sql) => {
    expect(isSingleStatement(sql)).toBe(false);
  });
});

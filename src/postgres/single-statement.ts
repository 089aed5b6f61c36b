/**
 * Whether SQL text certainly holds one statement, by PostgreSQL's lexical rules: `;` counts only
 * outside '…' strings, "…" identifiers, $tag$…$tag$ bodies, -- and nested /* *\/ comments. Text
 * it cannot judge for sure (a backslash inside a string, an unclosed quote or comment) is answered
 * false, so the caller falls back to the extended protocol, which the server holds to one statement.
 */
export function isSingleStatement(sql: string): boolean {
  // PostgreSQL ends a -- comment at \r as well as \n; text with \r is not judged at all.
  if (sql.includes('\r')) return false;
  const n = sql.length;
  let i = 0;
  let seenSemicolon = false;
  while (i < n) {
    const c = sql.charCodeAt(i);
    // Anything but whitespace, comments and more semicolons after a ';' is a second statement.
    if (
      seenSemicolon &&
      c !== 59 &&
      !isSpace(c) &&
      !(c === 45 && sql.charCodeAt(i + 1) === 45) &&
      !(c === 47 && sql.charCodeAt(i + 1) === 42)
    )
      return false;
    if (c === 59) {
      seenSemicolon = true;
      i += 1;
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i + 2);
      i = end === -1 ? n : end + 1;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) {
          depth += 1;
          i += 2;
        } else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) {
          depth -= 1;
          i += 2;
        } else i += 1;
      }
      if (depth > 0) return false;
    } else if (c === 39) {
      // '…' with '' inside. A backslash may or may not escape the next quote (E'…' strings,
      // standard_conforming_strings off): the two readings can disagree, so it is not judged.
      i += 1;
      for (;;) {
        if (i >= n) return false;
        const d = sql.charCodeAt(i);
        if (d === 92) return false;
        if (d === 39 && sql.charCodeAt(i + 1) === 39) i += 2;
        else if (d === 39) break;
        else i += 1;
      }
      i += 1;
    } else if (c === 34) {
      const end = closingQuote(sql, i + 1, 34);
      if (end === -1) return false;
      i = end + 1;
    } else if (c === 36 && !(i > 0 && isIdentChar(sql.charCodeAt(i - 1)))) {
      // $tag$ … $tag$, where the tag is empty or an identifier that does not start with a digit.
      let j = i + 1;
      while (j < n && isIdentChar(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j += 1;
      const tagOk = j < n && sql.charCodeAt(j) === 36 && (j === i + 1 || !isDigit(sql.charCodeAt(i + 1)));
      if (!tagOk) {
        i += 1;
        continue;
      }
      const tag = sql.slice(i, j + 1);
      const end = sql.indexOf(tag, j + 1);
      if (end === -1) return false;
      i = end + tag.length;
    } else {
      i += 1;
    }
  }
  return true;
}

function closingQuote(sql: string, from: number, quote: number): number {
  let i = from;
  while (i < sql.length) {
    if (sql.charCodeAt(i) === quote) {
      if (sql.charCodeAt(i + 1) === quote) i += 2;
      else return i;
    } else i += 1;
  }
  return -1;
}

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
/** Letters, digits, `_`, `$` and anything past ASCII, as PostgreSQL's identifiers allow. */
const isIdentChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 95 || c === 36 || c > 127;

/**
 * The forms a secret takes when it travels: as itself, URL-encoded (a password in a URI or a query),
 * base64 and base64url of its UTF-8 bytes (with and without padding: Basic auth, tokens, env dumps),
 * and JSON-escaped (a secret inside a serialized JSON string).
 */
export function derivedForms(secret: string): string[] {
  const base64 = Buffer.from(secret, 'utf8').toString('base64');
  const forms = new Set([
    secret,
    urlEncoded(secret),
    base64,
    base64.replace(/=+$/, ''),
    Buffer.from(secret, 'utf8').toString('base64url'),
    JSON.stringify(secret).slice(1, -1),
  ]);
  forms.delete('');
  return [...forms];
}

/** encodeURIComponent throws on a lone surrogate; such text is URL-encoded as its well-formed twin. */
function urlEncoded(secret: string): string {
  try {
    return encodeURIComponent(secret);
  } catch {
    // String.prototype.toWellFormed (Node 20) replaces lone surrogates with U+FFFD.
    return encodeURIComponent((secret as string & { toWellFormed(): string }).toWellFormed());
  }
}

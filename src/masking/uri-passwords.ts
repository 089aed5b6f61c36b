const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
/** `scheme://user:password@` at the start of a value; the userinfo runs to the last `@` of the authority. */
const URI_USERINFO = /^[a-z][a-z0-9+.-]*:\/\/([^/?#\s]*)@/i;

/**
 * A password written into a URI anywhere in a text: `scheme://user:` then the password up to the last
 * `@` before the host. Quotes and whitespace end it, so a URI inside JSON or a sentence is found.
 */
// The scheme part is bounded (its last 32 characters are enough to match), so a long run of letters
// before "://" costs linear time, not quadratic.
const URI_PASSWORD_IN_TEXT = /([a-z][a-z0-9+.-]{0,31}:\/\/[^\s/?#@:"'<>]*:)([^\s/?#"'<>]+)@/gi;

/**
 * The password parts of a URI such as `postgres://user:pa%24s@host/db?password=...`, both as written and
 * percent-decoded, so that the decoded password is masked wherever it appears on its own.
 */
export function passwordsInUri(value: string): string[] {
  if (!SCHEME.test(value)) return [];
  const found = new Set<string>();
  const userinfo = URI_USERINFO.exec(value)?.[1];
  const colon = userinfo?.indexOf(':') ?? -1;
  if (userinfo !== undefined && colon >= 0) {
    const raw = userinfo.slice(colon + 1);
    found.add(raw);
    found.add(decode(raw));
  }
  const query = value.split('#')[0]?.split('?')[1];
  if (query !== undefined) {
    for (const password of new URLSearchParams(query).getAll('password')) found.add(password);
  }
  found.delete('');
  return [...found];
}

/**
 * Masks the password of every `scheme://user:password@host` in a text, known or not: a password written
 * into a URI is a secret by construction, even one the masker never saw.
 */
export function maskUriPasswords(text: string, mask: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URI_PASSWORD_IN_TEXT, (_match, head: string) => `${head}${mask}@`);
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

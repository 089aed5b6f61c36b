import { derivedForms } from './derived-forms.js';
import { isSecretKey } from './is-secret-key.js';
import { SecretIndex } from './secret-index.js';
import { maskUriPasswords, passwordsInUri } from './uri-passwords.js';

export const MASK = '********';

/**
 * Knows every secret value that passed through the agent and masks it, and its URL-encoded, base64,
 * base64url and JSON-escaped forms, in log lines, error messages and HTTP responses. Values shorter
 * than six characters are masked only when a whole text equals them.
 *
 * A child (one workflow run) masks everything its parent knows, and whatever it learns is registered in
 * the parent too. Hence parent and child always mask the same set, and they share one index (the
 * root's); a child only keeps its own list of what it registered, reported by `size`.
 */
export class SecretMasker {
  private readonly parent: SecretMasker | undefined;
  private readonly index: SecretIndex;
  private readonly own = new Set<string>();

  constructor(parent?: SecretMasker) {
    this.parent = parent;
    this.index = parent ? parent.index : new SecretIndex();
  }

  /** How many secret values were registered through this masker (for a child: during its run). */
  get size(): number {
    return this.own.size;
  }

  /**
   * Grows whenever a secret is registered anywhere in the tree (secrets are never forgotten), so a
   * text masked at one generation needs masking again only once the generation has moved.
   */
  get generation(): number {
    return this.index.values.size;
  }

  /** Registers a secret and its derived forms; a URI's password part is registered as a secret too. */
  add(value: string): void {
    if (value === '' || this.own.has(value)) return;
    this.own.add(value);
    if (this.parent) this.parent.add(value);
    else this.index.addSecret(value, derivedForms(value));
    for (const password of passwordsInUri(value)) this.add(password);
  }

  addAll(values: Iterable<string>): void {
    for (const value of values) this.add(value);
  }

  /**
   * Registers every string leaf under a secret-named key, recursively (arrays included), and the password
   * part of any URI leaf anywhere. Only strings: a number under a secret key (`tokenTtl: 3600`) is more
   * likely a setting than a secret, and registering "3600" would mask it everywhere.
   */
  addSecretsIn(value: unknown): void {
    this.collect(value, false, new Set());
  }

  /** Whether `value` itself was registered as a secret (derived forms are not reported). */
  knows(value: string): boolean {
    return this.index.values.has(value);
  }

  /** Replaces every known secret and derived form in `text` with MASK, and any password inside a URI. */
  mask(text: string): string {
    return maskUriPasswords(this.index.replace(text, MASK), MASK);
  }

  /**
   * A deep copy of a JSON-like value for previews: everything under a secret-named key becomes MASK leaf
   * by leaf (null stays null), other strings and all keys pass through mask(); numbers, booleans and null
   * are kept. A reference cycle becomes "[Circular]".
   */
  maskValue<T>(value: T): T {
    return this.copy(value, false, new Set()) as T;
  }

  private copy(value: unknown, secret: boolean, path: Set<object>): unknown {
    if (value === null || value === undefined) return value;
    if (typeof value === 'string') return secret ? MASK : this.mask(value);
    if (typeof value !== 'object') return secret && typeof value !== 'function' ? MASK : value;
    if (path.has(value)) return '[Circular]';
    path.add(value);
    const copy = Array.isArray(value)
      ? value.map((item: unknown) => this.copy(item, secret, path))
      : Object.fromEntries(
          Object.entries(value).map(([key, item]) => [
            this.mask(key),
            this.copy(item, secret || isSecretKey(key), path),
          ]),
        );
    path.delete(value);
    return copy;
  }

  private collect(value: unknown, secret: boolean, path: Set<object>): void {
    if (typeof value === 'string') {
      if (secret) this.add(value);
      else for (const password of passwordsInUri(value)) this.add(password);
      return;
    }
    if (typeof value !== 'object' || value === null || path.has(value)) return;
    path.add(value);
    if (Array.isArray(value)) for (const item of value) this.collect(item, secret, path);
    else for (const [key, item] of Object.entries(value)) this.collect(item, secret || isSecretKey(key), path);
    path.delete(value);
  }
}

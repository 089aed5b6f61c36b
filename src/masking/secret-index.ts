/**
 * Secrets shorter than this are masked only when a whole text equals them, so that registering "admin"
 * or "5432" does not blank every word containing it. It is also the index's window: every form matched
 * inside text is at least this long, and so is every fragment.
 */
export const MIN_SUBSTRING_LENGTH = 6;

/**
 * Secrets at least this long are also masked piecemeal: any run of MIN_SUBSTRING_LENGTH or more of
 * their characters is masked wherever it appears (V8 quotes a window of its input in JSON.parse
 * errors, step code slices values into messages).
 */
export const MIN_FRAGMENTED_LENGTH = 8;

const BASE = 0x01000193;
/** BASE ** (MIN_SUBSTRING_LENGTH - 1) in 32-bit arithmetic, to drop the character leaving the window */
const BASE_TOP = Array.from({ length: MIN_SUBSTRING_LENGTH - 1 }).reduce<number>((p) => Math.imul(p, BASE), 1);

/** Forms whose first MIN_SUBSTRING_LENGTH characters hash alike (with how many secrets gave each), and their lengths. */
interface Bucket {
  forms: Map<string, number>;
  /** longest first, so the longest form starting at a position wins */
  lengths: number[];
}

/**
 * The forms to mask, bucketed by a rolling hash of their first MIN_SUBSTRING_LENGTH characters, and
 * the fragments (every MIN_SUBSTRING_LENGTH-character window) of the secrets long enough to have them.
 * One pass over a text costs two typed-array reads per character whatever the number of secrets, and
 * a Map lookup where a filter hits; adding a secret is O(its length). Forms and fragments are counted,
 * so removing one secret never unmasks what another still needs.
 */
export class SecretIndex {
  /** registered secret values, as given, with how many times each was added */
  readonly values = new Map<string, number>();
  /** every form, for texts that are exactly a secret (including short ones) */
  private readonly whole = new Map<string, number>();
  private readonly buckets = new Map<number, Bucket>();
  private readonly fragments = new Map<string, number>();
  /**
   * One byte per low 16 bits of a window's key (bit 1: a form starts with it; bit 2: a fragment): most
   * windows of ordinary text miss here, at the cost of a typed-array read instead of a Map lookup.
   * Bits are never cleared: a stale bit only costs a Map lookup.
   */
  private readonly filter = new Uint8Array(1 << 16);

  addSecret(secret: string, forms: readonly string[], fragmented: boolean): void {
    const seen = this.values.get(secret) ?? 0;
    this.values.set(secret, seen + 1);
    if (seen > 0) return;
    const inText = secret.length >= MIN_SUBSTRING_LENGTH;
    for (const form of forms) {
      increment(this.whole, form);
      if (!inText || form.length < MIN_SUBSTRING_LENGTH) continue;
      const key = keyOf(windowHash(form, 0));
      let bucket = this.buckets.get(key);
      if (!bucket) this.buckets.set(key, (bucket = { forms: new Map(), lengths: [] }));
      increment(bucket.forms, form);
      if (!bucket.lengths.includes(form.length)) {
        bucket.lengths.push(form.length);
        bucket.lengths.sort((a, b) => b - a);
      }
      this.filter[key & 0xffff]! |= 1;
    }
    if (!fragmented || secret.length < MIN_FRAGMENTED_LENGTH) return;
    for (const window of windowsOf(secret)) {
      increment(this.fragments, window);
      this.filter[keyOf(windowHash(window, 0)) & 0xffff]! |= 2;
    }
  }

  /** Undoes one addSecret() with the same arguments. */
  removeSecret(secret: string, forms: readonly string[], fragmented: boolean): void {
    const seen = this.values.get(secret);
    if (seen === undefined) return;
    if (seen > 1) {
      this.values.set(secret, seen - 1);
      return;
    }
    this.values.delete(secret);
    for (const form of forms) {
      decrement(this.whole, form);
      if (secret.length < MIN_SUBSTRING_LENGTH || form.length < MIN_SUBSTRING_LENGTH) continue;
      const key = keyOf(windowHash(form, 0));
      const bucket = this.buckets.get(key);
      if (!bucket) continue;
      decrement(bucket.forms, form);
      if (bucket.forms.size === 0) this.buckets.delete(key);
    }
    if (!fragmented || secret.length < MIN_FRAGMENTED_LENGTH) return;
    for (const window of windowsOf(secret)) decrement(this.fragments, window);
  }

  /**
   * Replaces every occurrence of a form, and every run of text covered by fragments, with `mask`.
   * Overlapping occurrences (two secrets sharing characters) are merged into one masked span, so no
   * part of either is left readable. `withFragments: false` masks whole forms only.
   */
  replace(text: string, mask: string, withFragments = true): string {
    if (this.whole.has(text)) return mask;
    if (
      (this.buckets.size === 0 && (!withFragments || this.fragments.size === 0)) ||
      text.length < MIN_SUBSTRING_LENGTH
    )
      return text;
    const wanted = withFragments ? 3 : 1;
    let out = '';
    let copied = 0;
    let start = -1;
    let end = -1;
    let hash = windowHash(text, 0);
    for (let index = 0; ; index++) {
      const key = keyOf(hash);
      const bits = (this.filter[key & 0xffff] as number) & wanted;
      let stop = -1;
      if (bits & 1) {
        const bucket = this.buckets.get(key);
        const length = bucket?.lengths.find((candidate) => bucket.forms.has(text.slice(index, index + candidate)));
        if (length !== undefined) stop = index + length;
      }
      if (bits & 2 && stop < 0 && this.fragments.has(text.slice(index, index + MIN_SUBSTRING_LENGTH))) {
        stop = index + MIN_SUBSTRING_LENGTH;
      }
      if (stop >= 0) {
        if (index < end) {
          end = Math.max(end, stop);
        } else {
          if (start >= 0) {
            out += text.slice(copied, start) + mask;
            copied = end;
          }
          start = index;
          end = stop;
        }
      }
      const next = index + MIN_SUBSTRING_LENGTH;
      if (next >= text.length) break;
      hash = (Math.imul(hash - Math.imul(text.charCodeAt(index), BASE_TOP), BASE) + text.charCodeAt(next)) | 0;
    }
    if (start < 0) return text;
    return out + text.slice(copied, start) + mask + text.slice(end);
  }
}

function* windowsOf(secret: string): Generator<string> {
  for (let index = 0; index + MIN_SUBSTRING_LENGTH <= secret.length; index++)
    yield secret.slice(index, index + MIN_SUBSTRING_LENGTH);
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = counts.get(key);
  if (count === undefined) return;
  if (count > 1) counts.set(key, count - 1);
  else counts.delete(key);
}

/** The hash of MIN_SUBSTRING_LENGTH characters of a text from `from`, as the rolling update computes it. */
function windowHash(text: string, from: number): number {
  let hash = 0;
  for (let index = from; index < from + MIN_SUBSTRING_LENGTH; index++) {
    hash = (Math.imul(hash, BASE) + text.charCodeAt(index)) | 0;
  }
  return hash;
}

/** Small non-negative integers are the fastest Map keys in V8. */
function keyOf(hash: number): number {
  return hash & 0x3fffffff;
}

// Over 250 lines on purpose: one class whose learning, holding and forgetting share one bounded
// state (RootState); split apart, each piece would need the others' invariants.
import { CredflowError } from '../errors.js';
import { derivedForms } from './derived-forms.js';
import { isSecretKey } from './is-secret-key.js';
import { SecretIndex } from './secret-index.js';
import { maskUriPasswords, passwordsInUri } from './uri-passwords.js';

export const MASK = '********';

/** How much the agent's masker learns from secret stores; what the agent is configured with is not counted. */
export interface MaskerLimits {
  /** Learnt secret values held at once (CREDFLOW_MASKER_MAX_SECRETS). */
  maxSecrets: number;
  /** Their total size in UTF-8 bytes (CREDFLOW_MASKER_MAX_BYTES). */
  maxBytes: number;
}

export const defaultMaskerLimits: MaskerLimits = { maxSecrets: 2048, maxBytes: 262_144 };

interface Learnt {
  bytes: number;
  fragmented: boolean;
  /** cache keys whose entry holds the value (see hold()) */
  holders: Set<string>;
}

/** What only the root masker keeps. */
interface RootState {
  limits: MaskerLimits;
  index: SecretIndex;
  /** the agent's own configured secrets: never forgotten */
  pinned: Set<string>;
  /** secrets learnt from the store, least recently learnt first */
  learnt: Map<string, Learnt>;
  learntBytes: number;
  holdings: Map<string, Set<string>>;
  /** identifiers written in the configuration (integration and workflow names): never learnt as secrets */
  names: Set<string>;
  generation: number;
}

/**
 * Knows the secret values that pass through the agent and masks them, and their URL-encoded, base64,
 * base64url and JSON-escaped forms, in log lines, error messages and HTTP responses. Values shorter
 * than six characters are masked only when a whole text equals them; in values of eight characters or
 * more, any run of six of their characters is masked wherever it appears (a fragment quoted by an error).
 *
 * The root masker's `add` registers the agent's own configured secrets, kept for its lifetime. A child
 * (one workflow run) learns what the run reads from the store: registered in the root, within
 * `limits`. A learnt value stays while a credential cache entry holds it (`hold`/`release`); values no
 * entry holds are forgotten, least recently learnt first, when room is needed. A child keeps its own
 * list of what it learnt, reported by `size` and `learnt`.
 */
export class SecretMasker {
  private readonly parent: SecretMasker | undefined;
  private readonly root: RootState;
  private readonly own = new Set<string>();
  /** What of `own` was learnt to be masked piecemeal too (not a JSON document's whole text). */
  private readonly ownFragmented = new Set<string>();

  constructor(parent?: SecretMasker, limits: MaskerLimits = defaultMaskerLimits) {
    this.parent = parent;
    this.root = parent
      ? parent.root
      : {
          limits,
          index: new SecretIndex(),
          pinned: new Set(),
          learnt: new Map(),
          learntBytes: 0,
          holdings: new Map(),
          names: new Set(),
          generation: 0,
        };
  }

  /** How many secret values were registered through this masker (for a child: during its run). */
  get size(): number {
    return this.parent ? this.own.size : this.root.pinned.size + this.root.learnt.size;
  }

  /** What a child learnt. */
  get learnt(): ReadonlySet<string> {
    return this.own;
  }

  /**
   * What a child learnt to be masked in fragments as well: not a JSON document's whole text, whose
   * structure (`{"engine":"postgres","username":`) is no secret, only its secret leaves.
   */
  get learntFragmented(): ReadonlySet<string> {
    return this.ownFragmented;
  }

  /** Learnt values held now, and their bytes (for the root's bounds). */
  get learntUsage(): { secrets: number; bytes: number } {
    return { secrets: this.root.learnt.size, bytes: this.root.learntBytes };
  }

  /** Moves whenever a secret is registered or forgotten anywhere in the tree, so masked texts know when to be masked again. */
  get generation(): number {
    return this.root.generation;
  }

  /**
   * Identifiers written in the configuration: they are shown, so a store value equal to one is not a
   * secret and is not learnt (a value `demo-postgres` would otherwise mask that integration's name).
   */
  declareNames(names: Iterable<string>): void {
    for (const name of names) this.root.names.add(name);
  }

  /** Whether `value` is a declared identifier (see declareNames). */
  isName(value: string): boolean {
    return this.root.names.has(value);
  }

  /**
   * On the root, registers one of the agent's own secrets (kept for good); on a child, learns a value
   * read from a secret store. A URI's password part is registered as a secret too. `fragments: false`
   * for a JSON document as a whole, whose structure (`{"username":`) is not secret: its secret leaves
   * are registered on their own by addSecretsIn.
   */
  add(value: string, fragments = true): void {
    if (value === '' || this.own.has(value)) return;
    if (this.parent) {
      this.learn(value, fragments);
    } else if (!this.root.pinned.has(value)) {
      this.root.pinned.add(value);
      this.forget(value);
      this.root.index.addSecret(value, derivedForms(value), fragments);
      this.root.generation += 1;
    }
    for (const password of passwordsInUri(value)) this.add(password);
  }

  addAll(values: Iterable<string>, fragments = true): void {
    for (const value of values) this.add(value, fragments);
  }

  /**
   * Registers every string leaf under a secret-named key, recursively (arrays included), and the password
   * part of any URI leaf anywhere. Only strings: a number under a secret key (`tokenTtl: 3600`) is more
   * likely a setting than a secret, and registering "3600" would mask it everywhere.
   */
  addSecretsIn(value: unknown): void {
    this.collect(value, false, new Set());
  }

  /**
   * Keeps the learnt `values` while the cache entry `holder` lives; release(holder) when the entry is
   * gone (evicted, invalidated or replaced). Values not learnt (configured ones) are skipped.
   */
  hold(holder: string, values: Iterable<string>): void {
    const root = this.root;
    let held = root.holdings.get(holder);
    if (!held) root.holdings.set(holder, (held = new Set()));
    for (const value of values) {
      const learnt = root.learnt.get(value);
      if (!learnt) continue;
      learnt.holders.add(holder);
      held.add(value);
    }
  }

  /** The cache entry `holder` is gone: what it held may be forgotten once room is needed. */
  release(holder: string): void {
    const held = this.root.holdings.get(holder);
    if (!held) return;
    this.root.holdings.delete(holder);
    for (const value of held) this.root.learnt.get(value)?.holders.delete(holder);
  }

  /** Whether `value` itself was registered as a secret (derived forms are not reported). */
  knows(value: string): boolean {
    return this.root.index.values.has(value);
  }

  /** Replaces every known secret, derived form and fragment in `text` with MASK, and any password inside a URI. */
  mask(text: string): string {
    return maskUriPasswords(this.root.index.replace(text, MASK), MASK);
  }

  /**
   * Masks whole secrets and their forms, not fragments: for identifiers that may hold a secret a caller
   * typed (a requested path) but whose own words must stay readable.
   */
  maskWhole(text: string): string {
    return maskUriPasswords(this.root.index.replace(text, MASK, false), MASK);
  }

  /**
   * A deep copy of a JSON-like value for previews: everything under a secret-named key becomes MASK leaf
   * by leaf (null stays null), other strings pass through mask() and keys through maskWhole(); numbers, booleans and null
   * are kept. A reference cycle becomes "[Circular]".
   */
  maskValue<T>(value: T): T {
    return this.copy(value, false, new Set()) as T;
  }

  private learn(value: string, fragments: boolean): void {
    const root = this.root;
    if (root.pinned.has(value) || root.names.has(value)) return;
    if (fragments) this.ownFragmented.add(value);
    const known = root.learnt.get(value);
    if (known) {
      // Most recently learnt last: the first entries are the first to be forgotten.
      root.learnt.delete(value);
      root.learnt.set(value, known);
      this.own.add(value);
      return;
    }
    const bytes = Buffer.byteLength(value, 'utf8');
    this.makeRoom(bytes);
    this.own.add(value);
    root.learnt.set(value, { bytes, fragmented: fragments, holders: new Set() });
    root.learntBytes += bytes;
    root.index.addSecret(value, derivedForms(value), fragments);
    root.generation += 1;
  }

  /** Forgets unheld learnt values, oldest first, until `bytes` more fit; refuses when held ones fill the bounds. */
  private makeRoom(bytes: number): void {
    const root = this.root;
    const { maxSecrets, maxBytes } = root.limits;
    const full = () => root.learnt.size + 1 > maxSecrets || root.learntBytes + bytes > maxBytes;
    if (!full()) return;
    for (const [value, learnt] of root.learnt) {
      if (learnt.holders.size === 0) this.forget(value);
      if (!full()) return;
    }
    throw new CredflowError(
      'SECRETS_LIMIT',
      `the agent cannot hold another secret value of ${bytes} bytes: cached credentials hold ${root.learnt.size} values, ${root.learntBytes} bytes (CREDFLOW_MASKER_MAX_SECRETS=${maxSecrets}, CREDFLOW_MASKER_MAX_BYTES=${maxBytes})`,
      { details: { maxSecrets, maxBytes } },
    );
  }

  private forget(value: string): void {
    const root = this.root;
    const learnt = root.learnt.get(value);
    if (!learnt) return;
    root.learnt.delete(value);
    root.learntBytes -= learnt.bytes;
    root.index.removeSecret(value, derivedForms(value), learnt.fragmented);
    root.generation += 1;
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
          // A key is masked only where it is a whole secret: a fragment must not blank `password`.
          Object.entries(value).map(([key, item]) => [
            this.maskWhole(key),
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

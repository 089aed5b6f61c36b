import { hash } from 'node:crypto';
import { CredflowError } from '../errors.js';
import { nameFilter, scopes, type NameFilter, type Scope } from './scopes.js';

/** A configured API token, as the agent keeps it: never the token itself, only its SHA-256. */
export interface AccessToken {
  /** Names the token in audit lines; never the token. */
  readonly id: string;
  readonly digest: Buffer;
  readonly scopes: ReadonlySet<Scope>;
  readonly integrations: NameFilter;
  readonly workflows: NameFilter;
  /** False when the token is limited to some integrations or workflows. */
  readonly unrestricted: boolean;
}

/** How a token is given in a tokens file or to startAgent. */
export interface TokenSpec {
  id: string;
  /** The plain token, or its SHA-256 in hex. */
  token?: string;
  sha256?: string;
  scopes: readonly Scope[];
  integrations?: readonly string[];
  workflows?: readonly string[];
}

// crypto.hash (Node 20.12+): one call, no Hash object; about 1 µs less per call than createHash.
export const sha256 = (value: string): Buffer => hash('sha256', value, 'buffer');

/** The id a plain token gets when none is given: a short prefix of its SHA-256, which tells nothing of the token. */
export const idOfPlainToken = (token: string): string => `token-${sha256(token).toString('hex').slice(0, 8)}`;

/**
 * A plain token from CREDFLOW_API_TOKENS, --token or the generated one: every scope, every
 * integration and workflow (the agent's administrator).
 */
export function fullAccessToken(token: string): AccessToken {
  return toAccessToken({ id: idOfPlainToken(token), token, scopes });
}

/**
 * A token limited to `integrations` and `workflows` patterns. Without either list it reaches
 * everything; with only one, the other reaches nothing, so that a token meant for one integration
 * cannot preview arbitrary workflows (and read their secrets) by omission.
 */
export function toAccessToken(spec: TokenSpec): AccessToken {
  if (
    (spec.token === undefined) === (spec.sha256 === undefined) ||
    (spec.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(spec.sha256))
  ) {
    throw new CredflowError(
      'CONFIG_INVALID',
      `token "${spec.id}": give exactly one of token or sha256 (64 hex digits)`,
      { details: { token: spec.id } },
    );
  }
  const digest = spec.sha256 !== undefined ? Buffer.from(spec.sha256, 'hex') : sha256(spec.token ?? '');
  const neither = spec.integrations === undefined && spec.workflows === undefined;
  const integrations = spec.integrations ?? (neither ? ['*'] : []);
  const workflows = spec.workflows ?? (neither ? ['*'] : []);
  const granted = new Set<Scope>(spec.scopes);
  if (granted.has('reveal')) granted.add('preview');
  return {
    id: spec.id,
    digest,
    scopes: granted,
    integrations: nameFilter(integrations),
    workflows: nameFilter(workflows),
    unrestricted: integrations.includes('*') && workflows.includes('*'),
  };
}

import type { Integration, Workflow } from '../config/index.js';

export interface CacheKeyFields {
  workflow: string;
  profile: string;
  /** The workflow sees `context.integration`, so each integration has entries of its own. */
  integration: string;
  /** What the workflow runs with: the integration's params, then the profile's laid over them. */
  params: Readonly<Record<string, unknown>>;
  /** The workflow's default params, under `params`: part of what the response depends on. */
  defaultParams?: Readonly<Record<string, unknown>>;
  ttlSeconds: number;
  maxStaleSeconds: number;
}

/** The lifetimes used when an integration sets none. */
export interface CacheLifetimes {
  ttlSeconds: number;
  maxStaleSeconds: number;
}

/**
 * What identifies one cached workflow response. Its fields are read as fields; `id` is its one
 * string form, the name the cache and the masker know the entry by.
 */
export class CacheKey {
  readonly workflow: string;
  readonly profile: string;
  readonly integration: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly ttlSeconds: number;
  readonly maxStaleSeconds: number;
  readonly id: string;

  constructor(fields: CacheKeyFields) {
    this.workflow = fields.workflow;
    this.profile = fields.profile;
    this.integration = fields.integration;
    this.params = fields.params;
    this.ttlSeconds = fields.ttlSeconds;
    this.maxStaleSeconds = fields.maxStaleSeconds;
    // Equal params in another key order are the same response.
    const effective = stableJson({ ...fields.defaultParams, ...fields.params });
    this.id = [this.workflow, this.profile, effective, this.integration, this.ttlSeconds, this.maxStaleSeconds].join(
      '\u0000',
    );
  }

  /** The key of `integration`'s response under `profile`, from `workflow` (the one it names). */
  static of(integration: Integration, profile: string, workflow: Workflow, lifetimes: CacheLifetimes): CacheKey {
    const dynamic = integration.fetchCredentialsDynamically;
    return new CacheKey({
      workflow: workflow.name,
      profile,
      integration: integration.name,
      params: { ...dynamic?.params, ...dynamic?.profiles?.[profile]?.params },
      defaultParams: workflow.params,
      ttlSeconds: dynamic?.cacheTtlSeconds ?? lifetimes.ttlSeconds,
      maxStaleSeconds: dynamic?.maxStaleSeconds ?? lifetimes.maxStaleSeconds,
    });
  }

  toString(): string {
    return this.id;
  }
}

/** JSON with sorted keys. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

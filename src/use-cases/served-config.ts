import type { AgentSettings, Integration, LoadedConfig, Workflow } from '../config/index.js';
import type { Resolver } from '../credentials/index.js';
import { CredflowError } from '../errors.js';
import type { QueryLimits } from '../postgres/index.js';
import type { ReloadResult } from './agent.js';
import type { ConfigChanges } from './config-changes.js';
import { queryLimits } from './query-limits.js';

/** What an integration is served with, fixed when it comes into service. */
export interface ServedIntegration {
  /** The resolver of the configuration it came with: it holds the integration's cached responses. */
  resolver: Resolver;
  limits: QueryLimits;
}

export interface ServedConfigOptions {
  settings: AgentSettings;
  /** A resolver for a configuration: each configuration that brings integrations gets its own. */
  resolverFor: (config: LoadedConfig) => Resolver;
}

/**
 * The configuration being served, and what each of its integrations is served with. Keyed by the
 * integration object, so a request that began before a reload finishes with the resolver its
 * integration had; an integration a reload leaves unchanged keeps its object, its resolver and so
 * its cached responses.
 */
export class ServedConfig {
  private current: LoadedConfig;
  private readonly served = new WeakMap<Integration, ServedIntegration>();
  /** When the configuration being served was loaded. */
  loadedAt = new Date().toISOString();
  /** The last reload, applied or not. */
  lastReload: ReloadResult | undefined;

  constructor(
    config: LoadedConfig,
    private readonly options: ServedConfigOptions,
  ) {
    this.current = config;
    const resolver = options.resolverFor(config);
    for (const integration of config.integrations.values()) this.enter(integration, resolver);
  }

  get config(): LoadedConfig {
    return this.current;
  }

  integration(name: string): Integration {
    const found = this.current.integrations.get(name);
    if (!found)
      throw new CredflowError('INTEGRATION_NOT_FOUND', `no integration named "${name}"`, {
        details: { integration: name },
      });
    return found;
  }

  workflow(name: string): Workflow {
    const found = this.current.workflows.get(name);
    if (!found)
      throw new CredflowError('WORKFLOW_NOT_FOUND', `no workflow named "${name}"`, { details: { workflow: name } });
    return found;
  }

  /** What an integration of this configuration (or of one it replaced) is served with. */
  of(integration: Integration): ServedIntegration {
    const found = this.served.get(integration);
    // Every integration object a request can hold was served by a configuration (apply() marks it).
    if (!found)
      throw new CredflowError('INTERNAL', `integration "${integration.name}" is not served`, {
        details: { integration: integration.name },
      });
    return found;
  }

  /**
   * Serves `next`: integrations it adds or changes get a resolver of their own, the retired ones
   * (changed or removed) drop their cached responses. Returns the names of the retired ones.
   */
  apply(next: LoadedConfig, changes: ConfigChanges): string[] {
    const fresh = this.options.resolverFor(next);
    const retired = [...changes.integrations.changed, ...changes.integrations.removed];
    for (const name of retired) {
      const old = this.current.integrations.get(name);
      if (old) this.of(old).resolver.invalidate(old);
    }
    const renewed = new Set([...changes.integrations.added, ...changes.integrations.changed]);
    const integrations = new Map<string, Integration>();
    for (const [name, integration] of next.integrations) {
      const previous = renewed.has(name) ? undefined : this.current.integrations.get(name);
      if (!previous) this.enter(integration, fresh);
      integrations.set(name, previous ?? integration);
    }
    this.current = { ...next, integrations };
    this.loadedAt = new Date().toISOString();
    return retired;
  }

  private enter(integration: Integration, resolver: Resolver): void {
    this.served.set(integration, { resolver, limits: queryLimits(integration, this.options.settings) });
  }
}

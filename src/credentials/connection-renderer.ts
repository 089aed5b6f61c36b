import { createHash } from 'node:crypto';
import type { Integration, ResolvedConnection } from '../config/index.js';
import { SecretMasker } from '../masking/index.js';
import type { CacheKey } from './cache-key.js';
import type { CacheEntry } from './credential-cache.js';
import { renderConnection } from './render-connection.js';

export interface Rendered {
  connection: ResolvedConnection;
  /** A hash of the connection: equal keys mean equal credentials. */
  connectionKey: string;
}

export interface ConnectionRendererDeps {
  appEnv: Record<string, string>;
  masker: SecretMasker;
}

/**
 * Fills an integration's templates into a validated connection, and hashes it. Each cached
 * response is rendered once per integration (and a connection without a workflow once), since
 * rendering runs on every query otherwise.
 */
export class ConnectionRenderer {
  private readonly byEntry = new WeakMap<CacheEntry<unknown>, Map<string, Rendered>>();
  private readonly fixedByIntegration = new Map<string, Rendered>();

  constructor(private readonly deps: ConnectionRendererDeps) {}

  /** The connection of an integration without a workflow: its password is configuration, masked for good. */
  fixed(integration: Integration): Rendered {
    let found = this.fixedByIntegration.get(integration.name);
    if (!found) {
      const connection = renderConnection(integration, { Env: this.deps.appEnv }, this.deps.masker);
      this.fixedByIntegration.set(integration.name, (found = withKey(connection)));
    }
    return found;
  }

  /** The connection from a cached response: the password it holds is learnt, and kept while the entry lives. */
  fromEntry(integration: Integration, entry: CacheEntry<unknown>, key: CacheKey): Rendered {
    let perIntegration = this.byEntry.get(entry);
    if (!perIntegration) this.byEntry.set(entry, (perIntegration = new Map()));
    let found = perIntegration.get(integration.name);
    if (!found) {
      const response = entry.value;
      const context = { Env: this.deps.appEnv, [key.workflow]: { response }, credentials: { response } };
      const learner = new SecretMasker(this.deps.masker);
      const connection = renderConnection(integration, context, learner);
      this.deps.masker.hold(key.id, learner.learnt);
      perIntegration.set(integration.name, (found = withKey(connection)));
    }
    return found;
  }

  /** Forgets an integration's fixed connection (it is rendered again on next use). */
  forget(integration: Integration): void {
    this.fixedByIntegration.delete(integration.name);
  }
}

function withKey(connection: ResolvedConnection): Rendered {
  return { connection, connectionKey: createHash('sha256').update(JSON.stringify(connection)).digest('hex') };
}

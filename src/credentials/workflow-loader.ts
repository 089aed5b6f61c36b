import type { Integration, Workflow } from '../config/index.js';
import type { SecretMasker } from '../masking/index.js';
import type { WorkflowRunner } from '../workflows/index.js';
import type { CacheKey } from './cache-key.js';
import type { Loader } from './credential-cache.js';
import { neededPathsByWorkflow, pruneResponse, type NeededPaths } from './prune-response.js';
import { responseTtlMs } from './response-ttl.js';

export interface WorkflowLoaderDeps {
  runner: WorkflowRunner;
  /** The agent's masker: it holds what a run read while the entry it made lives. */
  masker: SecretMasker;
  /** The configured integrations: a cached response keeps only what their templates read. */
  integrations: Iterable<Integration>;
  now: () => number;
}

/**
 * Loads a key's workflow response for the cache: runs the workflow, keeps only the parts templates
 * read, works out how long it may be used, and has the masker hold the secrets the run read.
 */
export class WorkflowLoader {
  private readonly needed: Map<string, NeededPaths>;
  // Loads started per key id (bounded by the configured integrations and profiles).
  private readonly loadsStarted = new Map<string, number>();

  constructor(private readonly deps: WorkflowLoaderDeps) {
    this.needed = neededPathsByWorkflow(deps.integrations);
  }

  loaderFor(key: CacheKey, workflow: Workflow): Loader<unknown> {
    const { runner, masker, now } = this.deps;
    const options = {
      params: { ...key.params },
      context: { integration: key.integration, profile: key.profile },
      keepLeases: true,
    };
    return async () => {
      // Loads of one key can overlap (an invalidate while one runs): like the cache, which keeps the
      // value of the load that started last, only that load's values are held for the entry.
      const started = (this.loadsStarted.get(key.id) ?? 0) + 1;
      this.loadsStarted.set(key.id, started);
      const run = await runner.run(workflow, options);
      // The cache keeps the last failure for a while: its code and message, not the run's steps.
      if (!run.ok) throw run.error;
      run.masker.addSecretsIn(run.response);
      // The new entry replaces the previous one: the masker keeps what this run read while it lives.
      if (this.loadsStarted.get(key.id) === started) {
        masker.release(key.id);
        masker.hold(key.id, run.masker.learnt);
      }
      return {
        value: pruneResponse(run.response, this.needed.get(workflow.name)),
        ttlMs: responseTtlMs(run.response, key.ttlSeconds, now(), run.leases ?? []),
        maxStaleMs: key.maxStaleSeconds * 1000,
        leases: run.leases ?? [],
      };
    };
  }
}

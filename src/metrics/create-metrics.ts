import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LabelledCounter, LabelledHistogram } from './labelled-metrics.js';

export interface PoolStats {
  integration: string;
  profile: string;
  /** A pool retired (invalidate, reload, rotation) whose queries still run; it ends when they are done. */
  draining: boolean;
  total: number;
  idle: number;
  /** Queries waiting for a connection: for a full pool, or for room under a connection limit. */
  waiting: number;
  /** Connections counted against the connection limits (connecting or open, until their socket closes). */
  open: number;
}

export interface Metrics {
  readonly registry: Registry;
  readonly workflowRuns: Histogram<'workflow' | 'outcome'>;
  /** Updated on every resolution: see LabelledMetric. */
  readonly cache: LabelledCounter<'integration' | 'result'>;
  readonly refreshes: Counter<'workflow' | 'mode' | 'outcome'>;
  readonly secretStoreCalls: Histogram<'operation' | 'outcome'>;
  /** Every call step code makes on the host, by store, operation and outcome (`ok` or the error's name). */
  readonly bridgeCalls: Counter<'store' | 'operation' | 'outcome'>;
  /** Updated on every query: see LabelledMetric. */
  readonly queries: LabelledHistogram<'integration' | 'outcome'>;
  readonly authRetries: Counter<'integration'>;
  /**
   * Queries that waited for the secret store to return new credentials (a rotation window), by
   * outcome: `rotated` (new credentials came), `timeout` (the bound passed), `cancelled` (the caller left).
   */
  readonly rotationWaits: Histogram<'integration' | 'outcome'>;
  /** Fetches made while queries wait for new credentials, by result: `changed`, `unchanged` or `error`. */
  readonly rotationRefetches: Counter<'integration' | 'result'>;
  /** Reloads of workflows/ and integrations/: `ok` applied, `error` rejected (the last good config stays). */
  readonly configReloads: Counter<'outcome'>;
  /** 1 while the last reload (or the start) applied, 0 after a rejected one. */
  readonly configLastReloadSuccess: Gauge;
  /** Queries refused with CONNECTION_LIMIT, by integration and limit (`integration` or `server`). */
  readonly connectionLimitRefusals: Counter<'integration' | 'limit'>;
  /** Sandbox workers the agent stopped, by reason (`memory`: over CREDFLOW_SANDBOX_WORKER_MAX_RSS_MB). */
  readonly sandboxWorkersStopped: Counter<'reason'>;
  /** Pool figures are read at scrape time from this source. */
  setPoolSource(source: () => PoolStats[]): void;
  /** The masker's learnt values (bounded by CREDFLOW_MASKER_MAX_SECRETS / _MAX_BYTES), read at scrape time. */
  setMaskerSource(source: () => { secrets: number; bytes: number }): void;
  /** Sandbox worker processes, read at scrape time: each worker's runs and whether it is reserved for resent runs. */
  setSandboxSource(source: () => { runs: number; reserved: boolean }[]): void;
  /** Runs waiting for a sandbox worker with a free slot (bounded by CREDFLOW_SANDBOX_QUEUE_MAX), read at scrape time. */
  setSandboxQueueSource(source: () => number): void;
  /** Assumed roles whose temporary credentials are cached (at most 256), read at scrape time. */
  setAssumedRolesSource(source: () => number): void;
}

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The agent's Prometheus metrics, in a registry of its own (so several agents can live in one process). */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'credflow_' });
  let poolSource: () => PoolStats[] = () => [];
  let maskerSource: () => { secrets: number; bytes: number } = () => ({ secrets: 0, bytes: 0 });
  let sandboxSource: () => { runs: number; reserved: boolean }[] = () => [];
  let sandboxQueueSource: () => number = () => 0;

  const workflowRuns = new Histogram({
    name: 'credflow_workflow_run_duration_seconds',
    help: 'Workflow runs by workflow and outcome (ok, error, timeout); _count is the number of runs.',
    labelNames: ['workflow', 'outcome'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  });
  const cache = new LabelledCounter({
    name: 'credflow_credential_cache_total',
    help: 'Credential resolutions by integration and cache result (hit, miss, refresh, stale, static).',
    labelNames: ['integration', 'result'] as const,
    registers: [registry],
  });
  const refreshes = new Counter({
    name: 'credflow_credential_refreshes_total',
    help: 'Loads of cached workflow responses, foreground or background (refresh ahead), by outcome.',
    labelNames: ['workflow', 'mode', 'outcome'] as const,
    registers: [registry],
  });
  const secretStoreCalls = new Histogram({
    name: 'credflow_secret_store_call_duration_seconds',
    help: 'Secret store calls by operation and outcome (ok or the AWS error name); _count is the number of calls.',
    labelNames: ['operation', 'outcome'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  });
  const bridgeCalls = new Counter({
    name: 'credflow_bridge_calls_total',
    help: 'Calls step code made on the host (aws.secretsManager.getSecretValue, ...), by store, operation and outcome (ok or the error name).',
    labelNames: ['store', 'operation', 'outcome'] as const,
    registers: [registry],
  });
  const queries = new LabelledHistogram({
    name: 'credflow_query_duration_seconds',
    help: 'Queries by integration and outcome (ok or the error code).',
    labelNames: ['integration', 'outcome'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  });
  const authRetries = new Counter({
    name: 'credflow_auth_failure_retries_total',
    help: 'Authentication failures the agent answered by fetching the credentials again (or joining a fetch or a rotation wait in progress), to retry on new ones or fail.',
    labelNames: ['integration'] as const,
    registers: [registry],
  });
  const rotationWaits = new Histogram({
    name: 'credflow_rotation_wait_duration_seconds',
    help: 'Queries that waited for the secret store to return new credentials after the database refused the ones it returns, by outcome (rotated, timeout, cancelled); _count is the number of waits.',
    labelNames: ['integration', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [registry],
  });
  const rotationRefetches = new Counter({
    name: 'credflow_rotation_refetches_total',
    help: 'Workflow runs made while queries wait for new credentials, by result (changed, unchanged, error); at most one per 250 ms per integration and profile.',
    labelNames: ['integration', 'result'] as const,
    registers: [registry],
  });
  const configReloads = new Counter({
    name: 'credflow_config_reloads_total',
    help: 'Reloads of workflows/ and integrations/ by outcome (ok: applied; error: rejected, the last good configuration kept).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const configLastReloadSuccess = new Gauge({
    name: 'credflow_config_last_reload_success',
    help: '1 when the configuration last loaded (at start or by a reload) was applied, 0 when the last reload was rejected.',
    registers: [registry],
  });
  configLastReloadSuccess.set(1);
  const connectionLimitRefusals = new Counter({
    name: 'credflow_connection_limit_refusals_total',
    help: 'Queries refused with CONNECTION_LIMIT, by integration and limit (integration: CREDFLOW_POOL_MAX; server: CREDFLOW_UPSTREAM_MAX_CONNECTIONS).',
    labelNames: ['integration', 'limit'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'credflow_pools',
    help: 'Open connection pools, draining ones included (see credflow_pools_draining).',
    registers: [registry],
    collect() {
      this.set(poolSource().length);
    },
  });
  new Gauge({
    name: 'credflow_pools_draining',
    help: 'Pools retired (invalidate, reload, rotation) whose queries still run; each ends when they are done.',
    registers: [registry],
    collect() {
      this.set(poolSource().filter((p) => p.draining).length);
    },
  });
  new Gauge({
    name: 'credflow_pool_connections',
    help: 'Connections of each current pool by state (total, idle), its queued requests (waiting), and the open connections of the draining pools (draining).',
    labelNames: ['integration', 'profile', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const pool of poolSource()) {
        const labels = { integration: pool.integration, profile: pool.profile };
        if (pool.draining) {
          this.inc({ ...labels, state: 'draining' }, pool.open);
          continue;
        }
        for (const state of ['total', 'idle', 'waiting'] as const) this.inc({ ...labels, state }, pool[state]);
      }
    },
  });

  new Gauge({
    name: 'credflow_masker_learnt_secrets',
    help: 'Secret values the masker learnt from secret stores and still holds (bounded by CREDFLOW_MASKER_MAX_SECRETS).',
    registers: [registry],
    collect() {
      this.set(maskerSource().secrets);
    },
  });
  new Gauge({
    name: 'credflow_masker_learnt_bytes',
    help: 'Bytes of the secret values the masker learnt and still holds (bounded by CREDFLOW_MASKER_MAX_BYTES).',
    registers: [registry],
    collect() {
      this.set(maskerSource().bytes);
    },
  });
  new Gauge({
    name: 'credflow_sandbox_workers',
    help: 'Sandbox worker processes (kind: pool, or reserved for a run resent after its worker died) and the runs they hold.',
    labelNames: ['kind', 'measure'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const worker of sandboxSource()) {
        const kind = worker.reserved ? 'reserved' : 'pool';
        this.inc({ kind, measure: 'workers' });
        this.inc({ kind, measure: 'runs' }, worker.runs);
      }
    },
  });

  const sandboxWorkersStopped = new Counter({
    name: 'credflow_sandbox_workers_stopped_total',
    help: 'Sandbox workers the agent stopped, by reason (memory: resident memory over CREDFLOW_SANDBOX_WORKER_MAX_RSS_MB).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'credflow_sandbox_queued_runs',
    help: 'Workflow runs waiting for a sandbox worker with a free slot (bounded by CREDFLOW_SANDBOX_QUEUE_MAX).',
    registers: [registry],
    collect() {
      this.set(sandboxQueueSource());
    },
  });

  let assumedRolesSource: () => number = () => 0;
  new Gauge({
    name: 'credflow_aws_assumed_roles',
    help: 'Assumed IAM roles whose temporary credentials the agent caches (at most 256, least recently used dropped).',
    registers: [registry],
    collect() {
      this.set(assumedRolesSource());
    },
  });

  return {
    registry,
    workflowRuns,
    cache,
    refreshes,
    secretStoreCalls,
    bridgeCalls,
    queries,
    authRetries,
    rotationWaits,
    rotationRefetches,
    configReloads,
    configLastReloadSuccess,
    connectionLimitRefusals,
    sandboxWorkersStopped,
    setPoolSource(source) {
      poolSource = source;
    },
    setMaskerSource(source) {
      maskerSource = source;
    },
    setSandboxSource(source) {
      sandboxSource = source;
    },
    setSandboxQueueSource(source) {
      sandboxQueueSource = source;
    },
    setAssumedRolesSource(source) {
      assumedRolesSource = source;
    },
  };
}

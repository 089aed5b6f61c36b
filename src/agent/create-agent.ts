import type { Logger } from 'pino';
import { audit, type Actor } from '../access/index.js';
import { loadConfig, type AgentSettings, type Integration, type LoadedConfig, type Workflow } from '../config/index.js';
import { createResolver, stageOf, type IntegrationStatus, type Resolver } from '../credentials/index.js';
import { CredflowError } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';
import { requestLines } from '../logging/index.js';
import { createMetrics, type Metrics } from '../metrics/index.js';
import { createPoolRegistry, type QueryLimits, type QueryResult } from '../postgres/index.js';
import type { SecretsGateway } from '../secrets/index.js';
import { SandboxWorkers } from '../sandbox/index.js';
import { createWorkflowRunner, previewFailure, previewProfile, toPreview, type Preview } from '../workflows/index.js';
import { configChanges, noChanges, type ConfigChanges } from './config-changes.js';
import { queryIntegration, type QueryDeps } from './query-integration.js';
import { redactConfig } from './redact-config.js';

export interface AgentDeps {
  config: LoadedConfig;
  settings: AgentSettings;
  secrets: SecretsGateway;
  masker: SecretMasker;
  logger: Logger;
  appEnv: Record<string, string>;
  metrics?: Metrics;
  /** Reads the configuration again for reload(); default: loadConfig of the same folder. */
  loadConfig?: () => Promise<LoadedConfig>;
}

export type ReloadTrigger = 'watch' | 'signal' | 'api';

/** What a reload did: applied (with what changed) or rejected (with the problems; the last good config stays). */
export interface ReloadResult extends ConfigChanges {
  applied: boolean;
  trigger: ReloadTrigger;
  at: string;
  problems: string[];
}

export interface ConfigStatus {
  dir: string;
  integrations: number;
  workflows: number;
  /** When the configuration being served was loaded. */
  loadedAt: string;
  /** The last reload, applied or not; undefined before the first. */
  lastReload: ReloadResult | undefined;
}

export interface IntegrationSummary {
  name: string;
  kind: string;
  description: string | undefined;
  workflow: string | undefined;
}

export interface WorkflowSummary {
  name: string;
  description: string | undefined;
  steps: string[];
  params: string[];
}

export interface TestResult {
  ok: true;
  integration: string;
  profile: string;
  durationMs: number;
  stages: string[];
}

export interface ProfileOption {
  /** Defaults to the agent's default profile. */
  profile?: string;
  /** Who asks, for the audit line; calls without one are audited as `local`. */
  actor?: Actor;
}

export interface AgentStatus extends IntegrationStatus {
  pools: {
    /** Connections of the current pool of this profile: all, idle, and requests queued for one. */
    total: number;
    idle: number;
    waiting: number;
    /** Pools of this profile retired (invalidate, reload, rotation) whose queries still run. */
    draining: number;
    /** The current pool's connections by state, and the open connections of the draining pools. */
    connections: { active: number; idle: number; draining: number };
    /** The connection limits: the integration's (all profiles, draining pools included), and its server's (once it connected). */
    limits: { integration: { open: number; max: number }; server?: { open: number; max: number } };
  };
}

export interface Agent {
  /** The configuration being served; a reload replaces it as a whole. */
  readonly config: LoadedConfig;
  readonly masker: SecretMasker;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The sandbox worker processes; `warm()` starts them ahead of the first run. */
  readonly sandbox: SandboxWorkers;
  listIntegrations(): IntegrationSummary[];
  describeIntegration(name: string): unknown;
  listWorkflows(): WorkflowSummary[];
  describeWorkflow(name: string): unknown;
  previewWorkflow(
    name: string,
    options?: { params?: Record<string, unknown>; reveal?: boolean } & ProfileOption,
  ): Promise<Preview>;
  testIntegration(name: string, options?: ProfileOption): Promise<TestResult>;
  query(name: string, sql: string, params?: readonly unknown[], options?: ProfileOption): Promise<QueryResult>;
  /** Drops the integration's cached responses and drains its pools; running queries finish on the old pools. */
  invalidate(
    name: string,
    options?: { actor?: Actor },
  ): { integration: string; droppedResponses: number; drainedPools: number };
  status(name: string, options?: ProfileOption): AgentStatus;
  /**
   * Reads workflows/ and integrations/ again. A valid configuration replaces the served one at once;
   * integrations whose file or workflow changed, or that were removed, drop their cached responses
   * and drain their pools (running queries finish on them). An invalid one is rejected, keeping the
   * last good configuration. Reloads run one at a time.
   */
  reload(trigger: ReloadTrigger, options?: { actor?: Actor }): Promise<ReloadResult>;
  configStatus(): ConfigStatus;
  /** Writes the per-request log lines still queued (they go out in batches; see requestLines). */
  flushLogs(): void;
  close(): Promise<void>;
}

const codeOf = (error: unknown): string => (error instanceof CredflowError ? error.code : 'INTERNAL');
const workflowOf = (integration: Integration): string | undefined =>
  integration.fetchCredentialsDynamically?.enabled ? integration.fetchCredentialsDynamically.workflow : undefined;

/** The agent's use cases, shared by the HTTP API and the CLI. */
export function createAgent(deps: AgentDeps): Agent {
  const { masker, logger } = deps;
  let config = deps.config;
  let loadedAt = new Date().toISOString();
  let lastReload: ReloadResult | undefined;
  // Values of the agent's Env under secret-named keys (aws_secret_access_key, ...) are secrets too.
  masker.addSecretsIn(deps.appEnv);
  // Names written in the configuration are shown everywhere: a store value equal to one is not learnt.
  masker.declareNames([...config.integrations.keys(), ...config.workflows.keys()]);
  const metrics = deps.metrics ?? createMetrics();
  const { prewarm, workers, concurrency, queueMax, workerMaxRssMb, ...limits } = deps.settings.sandbox;
  // Step code runs in worker processes that hold nothing of this one; bridge calls come back here.
  const sandbox = new SandboxWorkers({
    size: workers,
    prewarm,
    concurrency,
    queueMax,
    memoryMb: limits.memoryMb,
    maxRssMb: workerMaxRssMb,
    onStopped: (reason) => metrics.sandboxWorkersStopped.inc({ reason }),
    logger,
  });
  const runner = createWorkflowRunner({
    secrets: deps.secrets,
    masker,
    appEnv: deps.appEnv,
    limits,
    logger,
    metrics,
    sandbox,
  });
  const pools = createPoolRegistry({
    logger,
    max: deps.settings.poolMax,
    serverMax: deps.settings.upstreamMaxConnections,
    onLimit: (integration, limit) => metrics.connectionLimitRefusals.inc({ integration, limit }),
    connectTimeoutMs: deps.settings.connectTimeoutMs,
    statementTimeoutMs: deps.settings.statementTimeoutMs,
    maxMessageBytes: deps.settings.queryMaxMessageBytes,
  });
  metrics.setPoolSource(() => pools.stats());
  metrics.setMaskerSource(() => masker.learntUsage);
  metrics.setSandboxSource(() => sandbox.status());
  metrics.setSandboxQueueSource(() => sandbox.queued());
  // The lines every request writes (resolution, audit): queued, and built from a memo of their masked text.
  const lines = requestLines(logger);
  // Each configuration gets a resolver of its own; an integration a reload leaves unchanged keeps
  // the resolver (and so the cached responses) it had.
  const generation = (loaded: LoadedConfig): QueryDeps => {
    const resolver = createResolver({
      config: loaded,
      settings: deps.settings,
      runner,
      appEnv: deps.appEnv,
      masker,
      logger,
      lines,
      metrics,
    });
    return { resolver, pools, masker, metrics, authRetries: deps.settings.authRetries, poolMax: deps.settings.poolMax };
  };
  // Keyed by the integration object, so a request that began before a reload finishes with the
  // resolver its integration had.
  const served = new WeakMap<Integration, QueryDeps>();
  const first = generation(config);
  for (const integration of config.integrations.values()) served.set(integration, first);
  const depsOf = (target: Integration): QueryDeps => served.get(target) ?? first;
  const resolverOf = (target: Integration): Resolver => depsOf(target).resolver;

  const limitsByIntegration = new WeakMap<Integration, QueryLimits>();
  const queryLimitsOf = (target: Integration): QueryLimits => {
    let found = limitsByIntegration.get(target);
    if (!found) {
      found = {
        readOnly: target.readOnly ?? false,
        statementTimeoutMs: target.statementTimeoutMs ?? deps.settings.statementTimeoutMs,
        maxRows: target.maxRows ?? deps.settings.queryMaxRows,
        maxResultBytes: target.maxResultBytes ?? deps.settings.queryMaxBytes,
        maxMessageBytes: deps.settings.queryMaxMessageBytes,
      };
      limitsByIntegration.set(target, found);
    }
    return found;
  };

  /** The profile a request used, for its audit line: the one it asked for when that was refused. */
  const profileOf = (target: Integration, asked: string | undefined): string | undefined => {
    try {
      return resolverOf(target).profileFor(target, asked);
    } catch {
      return asked;
    }
  };

  const integration = (name: string): Integration => {
    const found = config.integrations.get(name);
    if (!found)
      throw new CredflowError('INTEGRATION_NOT_FOUND', `no integration named "${name}"`, {
        details: { integration: name },
      });
    return found;
  };
  const workflow = (name: string): Workflow => {
    const found = config.workflows.get(name);
    if (!found)
      throw new CredflowError('WORKFLOW_NOT_FOUND', `no workflow named "${name}"`, { details: { workflow: name } });
    return found;
  };

  const apply = (next: LoadedConfig, changes: ConfigChanges): void => {
    const fresh = generation(next);
    const retired = [...changes.integrations.changed, ...changes.integrations.removed];
    for (const name of retired) {
      const old = config.integrations.get(name);
      if (old) depsOf(old).resolver.invalidate(old);
    }
    // Unchanged integrations keep their object (it keys their resolver's caches) and so their resolver.
    const renewed = new Set([...changes.integrations.added, ...changes.integrations.changed]);
    const integrations = new Map<string, Integration>();
    for (const [name, integration] of next.integrations) {
      const previous = renewed.has(name) ? undefined : config.integrations.get(name);
      if (!previous) served.set(integration, fresh);
      integrations.set(name, previous ?? integration);
    }
    config = { ...next, integrations };
    masker.declareNames([...next.integrations.keys(), ...next.workflows.keys()]);
    loadedAt = new Date().toISOString();
    for (const name of retired) pools.drop(name);
  };

  let reloads: Promise<unknown> = Promise.resolve();
  const reload = async (trigger: ReloadTrigger, actor: Actor | undefined): Promise<ReloadResult> => {
    const started = performance.now();
    const next = await (deps.loadConfig ?? (() => loadConfig(config.dir)))();
    const changes = configChanges(config, next);
    const applied = next.problems.length === 0;
    // A save that changed nothing (an editor's backup file, a touch) keeps every resolver as it is.
    if (applied && !noChanges(changes)) apply(next, changes);
    const empty = { added: [], changed: [], removed: [] };
    const result: ReloadResult = {
      applied,
      trigger,
      at: new Date().toISOString(),
      problems: [...next.problems],
      ...(applied ? changes : { integrations: empty, workflows: empty }),
    };
    lastReload = result;
    metrics.configReloads.inc({ outcome: applied ? 'ok' : 'error' });
    metrics.configLastReloadSuccess.set(applied ? 1 : 0);
    const line = {
      event: 'config.reload',
      trigger,
      tokenId: actor?.tokenId,
      outcome: applied ? 'ok' : 'error',
      integrations: result.integrations,
      workflows: result.workflows,
      problems: result.problems,
      durationMs: Math.round(performance.now() - started),
    };
    if (applied) logger.info(line, 'configuration reloaded');
    else logger.warn(line, 'configuration reload rejected; the last good configuration stays');
    return result;
  };

  return {
    get config() {
      return config;
    },
    masker,
    logger,
    metrics,
    sandbox,
    listIntegrations: () =>
      [...config.integrations.values()].map((i) => ({
        name: i.name,
        kind: i.kind,
        description: i.description,
        workflow: i.fetchCredentialsDynamically?.enabled ? i.fetchCredentialsDynamically.workflow : undefined,
      })),
    describeIntegration: (name) => {
      const found = integration(name);
      return { file: found.file, config: redactConfig(found.written, masker) };
    },
    listWorkflows: () =>
      [...config.workflows.values()].map((w) => ({
        name: w.name,
        description: w.description,
        steps: w.steps.map((s) => s.name),
        params: Object.keys(w.params),
      })),
    describeWorkflow: (name) => {
      const w = workflow(name);
      return {
        file: w.file,
        config: redactConfig(w.written, masker),
        steps: w.steps.map((s) => ({ name: s.name, source: s.source, code: masker.mask(s.code) })),
      };
    },
    async previewWorkflow(name, options = {}) {
      const started = performance.now();
      const profile = options.profile ?? deps.settings.defaultProfile;
      const reveal = options.reveal === true;
      const audited = (outcome: 'ok' | 'error', code?: string) =>
        audit(lines, {
          action: reveal ? 'reveal' : 'preview',
          actor: options.actor,
          workflow: name,
          profile,
          outcome,
          code,
          durationMs: Math.round(performance.now() - started),
        });
      try {
        const found = workflow(name);
        previewProfile(name, profile, deps.settings, config.integrations.values());
        const run = await runner.run(found, { params: options.params ?? {}, context: { profile } });
        if (!run.ok) throw previewFailure(run, reveal, deps.settings.previewMaxBytes);
        const preview = toPreview(run, reveal, deps.settings.previewMaxBytes);
        audited('ok');
        return preview;
      } catch (error) {
        audited('error', codeOf(error));
        throw error;
      }
    },
    async testIntegration(name, options = {}) {
      const target = integration(name);
      const started = performance.now();
      const profile = resolverOf(target).profileFor(target, options.profile);
      const audited = (outcome: 'ok' | 'error', code?: string) =>
        audit(lines, {
          action: 'test',
          actor: options.actor,
          integration: name,
          workflow: workflowOf(target),
          profile,
          outcome,
          code,
          durationMs: Math.round(performance.now() - started),
        });
      try {
        await queryIntegration(depsOf(target), target, {
          limits: queryLimitsOf(target),
          profile,
          sql: 'SELECT 1',
          params: [],
          actor: options.actor,
        });
        audited('ok');
      } catch (error) {
        audited('error', codeOf(error));
        if (error instanceof CredflowError) {
          const stage = stageOf(error) ?? 'internal';
          throw new CredflowError(error.code, `${stage} stage failed: ${error.message}`, {
            details: { ...error.details, stage },
            cause: error,
          });
        }
        throw error;
      }
      const stages = target.fetchCredentialsDynamically?.enabled
        ? ['workflow', 'template', 'validation', 'connect', 'auth', 'query']
        : ['template', 'validation', 'connect', 'auth', 'query'];
      return { ok: true, integration: name, profile, durationMs: Math.round(performance.now() - started), stages };
    },
    async query(name, sql, params = [], options = {}) {
      const target = integration(name);
      const started = performance.now();
      let code: string | undefined;
      try {
        return await queryIntegration(depsOf(target), target, {
          limits: queryLimitsOf(target),
          profile: options.profile,
          sql,
          params,
          actor: options.actor,
        });
      } catch (error) {
        code = codeOf(error);
        throw error;
      } finally {
        const ms = performance.now() - started;
        metrics.queries.observe({ integration: name, outcome: code ?? 'ok' }, ms / 1000);
        // The profile whose credentials were used (the default when none was asked for).
        audit(lines, {
          action: 'query',
          actor: options.actor,
          integration: name,
          workflow: workflowOf(target),
          profile: profileOf(target, options.profile),
          outcome: code ? 'error' : 'ok',
          code,
          durationMs: ms,
        });
      }
    },
    invalidate(name, options = {}) {
      const started = performance.now();
      const target = integration(name);
      const droppedResponses = resolverOf(target).invalidate(target);
      const drainedPools = pools.drop(name);
      logger.info(
        { event: 'credentials.invalidate', integration: name, droppedResponses, drainedPools },
        'invalidated cached credentials',
      );
      audit(lines, {
        action: 'invalidate',
        actor: options.actor,
        integration: name,
        workflow: workflowOf(target),
        outcome: 'ok',
        durationMs: Math.round(performance.now() - started),
      });
      return { integration: name, droppedResponses, drainedPools };
    },
    status(name, options = {}) {
      const target = integration(name);
      const base = resolverOf(target).status(target, options.profile);
      const mine = pools.stats().filter((p) => p.integration === name && p.profile === base.profile);
      const pool = mine.find((p) => !p.draining);
      const draining = mine.filter((p) => p.draining);
      const total = pool?.total ?? 0;
      const idle = pool?.idle ?? 0;
      const { integration: ofIntegration, server } = pools.connections(name, base.profile);
      return {
        ...base,
        pools: {
          total,
          idle,
          waiting: pool?.waiting ?? 0,
          draining: draining.length,
          connections: { active: total - idle, idle, draining: draining.reduce((sum, p) => sum + p.open, 0) },
          limits: { integration: ofIntegration, ...(server ? { server } : {}) },
        },
      };
    },
    reload(trigger, options = {}) {
      const run = reloads.then(() => reload(trigger, options.actor));
      reloads = run.catch(() => undefined);
      return run;
    },
    configStatus: () => ({
      dir: config.dir,
      integrations: config.integrations.size,
      workflows: config.workflows.size,
      loadedAt,
      lastReload,
    }),
    flushLogs() {
      lines.flush();
    },
    async close() {
      lines.flush();
      logger.flush();
      await sandbox.close();
      await pools.close();
      deps.secrets.close();
    },
  };
}

import type { Actor } from '../access/index.js';
import type { CancelHook, IntegrationStatus } from '../credentials/index.js';
import type { QueryResult } from '../postgres/index.js';
import type { Preview } from '../workflows/index.js';
import type { ConfigChanges } from './config-changes.js';

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

export interface QueryOptions extends ProfileOption {
  /**
   * How long the caller waits for the answer (ms): a wait for new credentials during a rotation
   * window ends by then (the statement itself is bounded by the statement timeout).
   */
  timeoutMs?: number;
  /** Ends a wait for new credentials when the caller goes away. */
  cancelled?: CancelHook;
}

export interface AgentStatus extends IntegrationStatus {
  /** The stores (bridge-functions.ts labels) its workflow's step code reaches, by a static scan; [] without a workflow. */
  stores: string[];
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

/**
 * The agent's use cases: what the HTTP API and the CLI call. Its parts (masker, metrics, sandbox,
 * logger) stay with the composition root (src/agent), which hands the HTTP layer what it needs.
 */
export interface Agent {
  listIntegrations(): IntegrationSummary[];
  describeIntegration(name: string): unknown;
  listWorkflows(): WorkflowSummary[];
  describeWorkflow(name: string): unknown;
  previewWorkflow(
    name: string,
    options?: { params?: Record<string, unknown>; reveal?: boolean } & ProfileOption,
  ): Promise<Preview>;
  testIntegration(name: string, options?: ProfileOption): Promise<TestResult>;
  query(name: string, sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult>;
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
  /** Stops the agent: writes the queued log lines, stops the sandbox workers, drains the pools. */
  close(): Promise<void>;
}

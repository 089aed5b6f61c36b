import type { Logger } from 'pino';
import { loadConfig, type AgentSettings, type LoadedConfig } from '../config/index.js';
import { createResolver } from '../credentials/index.js';
import { requestLines } from '../logging/index.js';
import type { SecretMasker } from '../masking/index.js';
import { createMetrics, type Metrics } from '../metrics/index.js';
import { createPoolRegistry } from '../postgres/index.js';
import { SandboxWorkers } from '../sandbox/index.js';
import {
  LeaseKeeper,
  type AwsIdentity,
  type HttpGateway,
  type RdsIamTokens,
  type SecretsGateway,
  type SsmGateway,
  type VaultClient,
} from '../secrets/index.js';
import { createUseCases, ServedConfig, type Agent } from '../use-cases/index.js';
import { createWorkflowRunner } from '../workflows/index.js';

export interface AgentDeps {
  config: LoadedConfig;
  settings: AgentSettings;
  secrets: SecretsGateway;
  /** Signs tokens for integrations with auth "rds-iam"; without it, their connections fail. */
  rdsIamTokens?: RdsIamTokens;
  /** Assumes the roles AWS bridge calls name; without it a call with roleArn is refused. */
  awsIdentity?: AwsIdentity;
  /** Undefined when VAULT_ADDR is not set. */
  vault?: VaultClient | undefined;
  /** http.fetch's client, built by start-up (which reads CREDFLOW_HTTP_BRIDGE_CA_FILE). */
  http: HttpGateway;
  ssm: SsmGateway;
  masker: SecretMasker;
  logger: Logger;
  appEnv: Record<string, string>;
  metrics?: Metrics;
  /** Reads the configuration again for reload(); default: loadConfig of the same folder. */
  loadConfig?: () => Promise<LoadedConfig>;
}

/** The agent's parts, for the HTTP layer, start-up and tests; never handed to a use case's caller. */
export interface AgentParts {
  /** The configuration being served; a reload replaces it as a whole. */
  readonly config: LoadedConfig;
  readonly masker: SecretMasker;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The sandbox worker processes; `warm()` starts them ahead of the first run. */
  readonly sandbox: SandboxWorkers;
  /** Writes the per-request log lines still queued (they go out in batches; see requestLines). */
  flushLogs(): void;
}

export interface ComposedAgent {
  agent: Agent;
  parts: AgentParts;
}

/** The composition root: builds the sandbox, the workflow runner, the pools and resolvers, and the use cases over them. */
export function createAgent(deps: AgentDeps): ComposedAgent {
  const { masker, logger, settings } = deps;
  // Values of the agent's Env under secret-named keys (aws_secret_access_key, ...) are secrets too.
  masker.addSecretsIn(deps.appEnv);
  // Names written in the configuration are shown everywhere: a store value equal to one is not learnt.
  masker.declareNames([...deps.config.integrations.keys(), ...deps.config.workflows.keys()]);
  const metrics = deps.metrics ?? createMetrics();
  const { prewarm, workers, concurrency, queueMax, workerMaxRssMb, ...limits } = settings.sandbox;
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
  // Vault leases live as long as the pools on the credentials they brought (see LeaseKeeper).
  const leases = deps.vault
    ? new LeaseKeeper({ vault: deps.vault, logger, inUse: (connectionKey) => pools.hasPool(connectionKey) })
    : undefined;
  const runner = createWorkflowRunner({
    stores: {
      secretsManager: deps.secrets,
      ssm: deps.ssm,
      vault: deps.vault,
      http: deps.http,
      ...(deps.awsIdentity ? { awsIdentity: deps.awsIdentity } : {}),
    },
    ...(leases ? { discardLeases: (obtained) => leases.discard(obtained) } : {}),
    masker,
    appEnv: deps.appEnv,
    limits,
    logger,
    metrics,
    sandbox,
  });
  const pools = createPoolRegistry({
    logger,
    max: settings.poolMax,
    serverMax: settings.upstreamMaxConnections,
    onLimit: (integration, limit) => metrics.connectionLimitRefusals.inc({ integration, limit }),
    connectTimeoutMs: settings.connectTimeoutMs,
    statementTimeoutMs: settings.statementTimeoutMs,
    maxMessageBytes: settings.queryMaxMessageBytes,
    rdsIamTokens: deps.rdsIamTokens,
    ...(leases ? { onPoolEnd: (connectionKey: string) => leases.poolEnded(connectionKey) } : {}),
  });
  metrics.setPoolSource(() => pools.stats());
  metrics.setMaskerSource(() => masker.learntUsage);
  metrics.setSandboxSource(() => sandbox.status());
  metrics.setSandboxQueueSource(() => sandbox.queued());
  const awsIdentity = deps.awsIdentity;
  if (awsIdentity) metrics.setAssumedRolesSource(() => awsIdentity.size);
  // The lines every request writes (resolution, audit): queued, and built from a memo of their masked text.
  const lines = requestLines(logger);
  const served = new ServedConfig(deps.config, {
    settings,
    resolverFor: (config) =>
      createResolver({
        config,
        settings,
        runner,
        appEnv: deps.appEnv,
        masker,
        logger,
        lines,
        metrics,
        ...(leases ? { bindLeases: (connectionKey, obtained) => leases.bind(connectionKey, obtained) } : {}),
      }),
  });
  const configDir = deps.config.dir;
  const agent = createUseCases(
    {
      served,
      settings,
      runner,
      pools,
      masker,
      logger,
      lines,
      metrics,
      loadConfig: deps.loadConfig ?? (() => loadConfig(configDir)),
    },
    async () => {
      lines.flush();
      logger.flush();
      await sandbox.close();
      await pools.close();
      // The pools have ended: their leases are being revoked.
      await leases?.close();
      deps.secrets.close();
      deps.awsIdentity?.close();
      deps.ssm.close();
    },
  );
  const parts: AgentParts = {
    get config() {
      return served.config;
    },
    masker,
    logger,
    metrics,
    sandbox,
    flushLogs: () => lines.flush(),
  };
  return { agent, parts };
}

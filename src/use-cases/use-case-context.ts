import type { Logger } from 'pino';
import type { AgentSettings, LoadedConfig } from '../config/index.js';
import type { LineSink } from '../logging/index.js';
import type { SecretMasker } from '../masking/index.js';
import type { Metrics } from '../metrics/index.js';
import type { PoolRegistry } from '../postgres/index.js';
import type { WorkflowRunner } from '../workflows/index.js';
import type { ServedConfig } from './served-config.js';

/** What every use case may use; the composition root (src/agent) builds it. */
export interface UseCaseContext {
  served: ServedConfig;
  settings: AgentSettings;
  runner: WorkflowRunner;
  pools: PoolRegistry;
  masker: SecretMasker;
  logger: Logger;
  /** The per-request lines (audit, resolution). */
  lines: LineSink;
  metrics: Metrics;
  /** Reads the configuration again, for a reload. */
  loadConfig: () => Promise<LoadedConfig>;
}

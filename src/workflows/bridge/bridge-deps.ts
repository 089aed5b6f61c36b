import type { Workflow } from '../../config/index.js';
import type { SecretMasker } from '../../masking/index.js';
import type { Metrics } from '../../metrics/index.js';
import type { SecretsGateway, SsmGateway } from '../../secrets/index.js';

/** The clients the bridge functions call: one per store. */
export interface BridgeStores {
  secretsManager: SecretsGateway;
  ssm: SsmGateway;
}

/** What a store's bridge functions get for one run. */
export interface BridgeDeps {
  stores: BridgeStores;
  /** The run's masker: what a call reads is learnt there (and by the agent's). */
  masker: SecretMasker;
  metrics: Metrics | undefined;
  workflow: Workflow;
}

/** One bridge function on the host: the step's argument (JSON) in, the answer (JSON) out; refusals are BridgeErrors. */
export type BridgeFunctionHandler = (args: unknown) => Promise<unknown>;

/** A store's bridge functions for one run, by path (`aws.ssm.getParameter`). */
export type StoreBridge = (deps: BridgeDeps) => Record<string, BridgeFunctionHandler>;

import type { Workflow } from '../../config/index.js';
import type { SecretMasker } from '../../masking/index.js';
import type { Metrics } from '../../metrics/index.js';
import type {
  AwsIdentity,
  HttpGateway,
  SecretsGateway,
  SsmGateway,
  VaultClient,
  VaultLease,
} from '../../secrets/index.js';

/** The clients the bridge functions call: one per store. */
export interface BridgeStores {
  secretsManager: SecretsGateway;
  /** Assumes the roles AWS calls name (roleArn), for every AWS store; see withAssumedRole. */
  awsIdentity?: AwsIdentity;
  /** Undefined when VAULT_ADDR is not set: vault.* calls are refused, naming the settings. */
  vault?: VaultClient | undefined;
  /** http.fetch's client (the agent always builds one; allowedHosts decides what it reaches). */
  http?: HttpGateway;
  ssm: SsmGateway;
}

/** What a store's bridge functions get for one run. */
export interface BridgeDeps {
  stores: BridgeStores;
  /** The run's masker: what a call reads is learnt there (and by the agent's). */
  masker: SecretMasker;
  metrics: Metrics | undefined;
  workflow: Workflow;
  /** Where the run records the Vault leases its calls obtained (the agent renews and revokes them). */
  leases?: VaultLease[];
  /** When the run must be over (epoch ms): calls that wait on the network end by then. */
  deadline: number;
}

/** One bridge function on the host: the step's argument (JSON) in, the answer (JSON) out; refusals are BridgeErrors. */
export type BridgeFunctionHandler = (args: unknown) => Promise<unknown>;

/** A store's bridge functions for one run, by path (`aws.ssm.getParameter`). */
export type StoreBridge = (deps: BridgeDeps) => Record<string, BridgeFunctionHandler>;

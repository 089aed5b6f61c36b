import type { CompiledFields } from '../templates/index.js';
import type { IntegrationFile } from './integration-schema.js';
import type { CaFile } from './read-ca-file.js';
import type { SandboxLimitsOverride } from './workflow-schema.js';

export interface Integration extends IntegrationFile {
  /** Path of the file, relative to the config folder. */
  readonly file: string;
  /** The document exactly as written (before `${VAR}` expansion), for display. */
  readonly written: unknown;
  readonly templates: CompiledFields;
  /**
   * The file `connection.ssl.caFile` names, read when the config loaded; its certificates are in
   * `connection.ssl.ca` and the templates. Compared on reload, since the integration file may not change.
   */
  readonly caFile?: CaFile;
}

export interface WorkflowStep {
  readonly name: string;
  readonly code: string;
  /** `inline` or the codeFile path relative to the config folder. */
  readonly source: string;
}

export interface Workflow {
  readonly name: string;
  readonly file: string;
  readonly description: string | undefined;
  readonly params: Record<string, unknown>;
  readonly limits: SandboxLimitsOverride;
  /** SecretId patterns the workflow may read; undefined: any secret. */
  readonly allowedSecrets: readonly string[] | undefined;
  /** Role ARN patterns the workflow's AWS calls may assume; undefined: none (assuming a role is opted into). */
  readonly allowedRoles: readonly string[] | undefined;
  /** Vault path patterns (after /v1/) the workflow may read; undefined: any path. */
  readonly allowedVaultPaths?: readonly string[] | undefined;
  /** Origins http.fetch may reach; undefined or empty: none. */
  readonly allowedHosts: readonly string[] | undefined;
  /** SSM parameter name patterns the workflow may read; undefined: any parameter. */
  readonly allowedParameters: readonly string[] | undefined;
  readonly steps: readonly WorkflowStep[];
  readonly written: unknown;
}

export interface LoadedConfig {
  readonly dir: string;
  readonly integrations: ReadonlyMap<string, Integration>;
  readonly workflows: ReadonlyMap<string, Workflow>;
  /** One line per problem, `file: json.path: message`; empty when the config is valid. */
  readonly problems: readonly string[];
  /**
   * One line per doubt, `file: json.path: message`: what a static look at step code suggests will
   * fail at run time (an unknown bridge call). The configuration still loads; only `validate` shows them.
   */
  readonly warnings: readonly string[];
}

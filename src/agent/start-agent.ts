import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { DestinationStream, Logger } from 'pino';
import {
  fullAccessToken,
  readTokensFile,
  scopes,
  sha256,
  toAccessToken,
  type AccessToken,
  type TokenSpec,
} from '../access/index.js';
import { CredflowError } from '../errors.js';
import { loadConfig, loadValidConfig, readAgentSettings, readAppEnv, type AgentSettings } from '../config/index.js';
import { AuthFailureLimiter, createApp, createHttpMetrics, createHttpServer } from '../http/index.js';
import { createLogger } from '../logging/index.js';
import { SecretMasker } from '../masking/index.js';
import {
  createAwsIdentity,
  createHttpGateway,
  createSecretsGateway,
  createSsmGateway,
  createVaultClient,
  RdsIamTokens,
  type AwsIdentityOptions,
  type Resolver,
  type SecretsGatewayOptions,
  type VaultClient,
} from '../secrets/index.js';
import type { Agent, ReloadTrigger } from '../use-cases/index.js';
import { createAgent, type AgentParts, type ComposedAgent } from './create-agent.js';
import { readCaFile } from './read-ca-file.js';
import { watchConfig } from './watch-config.js';

export interface OpenAgentOptions {
  /** The folder holding workflows/ and integrations/. */
  dir: string;
  env?: NodeJS.ProcessEnv;
  /** How the agent reaches AWS: Secrets Manager and SSM alike (the embedded endpoint serves both). */
  secrets?: SecretsGatewayOptions;
  /** How roles are assumed (the endpoint, region and base credentials come from `secrets`). */
  assumeRole?: Pick<AwsIdentityOptions, 'durationSeconds' | 'maxRoles'>;
  /** How http.fetch resolves names (default: dns.lookup); tests map names to chosen addresses. */
  httpResolver?: Resolver;
  logDestination?: DestinationStream;
  /** Overrides CREDFLOW_LOG_LEVEL. */
  logLevel?: AgentSettings['logLevel'];
  /**
   * The clock that decides when an RDS IAM token is signed anew (default Date.now). Tests move it
   * to pass the reuse window at once; the signing itself always uses the real time.
   */
  rdsIamNow?: () => number;
}

export interface StartAgentOptions extends OpenAgentOptions {
  /** Override PORT / HOST (0 picks a free port). */
  port?: number;
  host?: string;
  /**
   * Override CREDFLOW_API_TOKENS and CREDFLOW_TOKENS_FILE: plain strings have every scope, specs
   * have theirs.
   */
  tokens?: readonly (string | TokenSpec)[];
  /** Reload when files under workflows/ or integrations/ change (default true). */
  watch?: boolean;
  /** Reload on SIGHUP (default true). */
  reloadOnSighup?: boolean;
}

export interface RunningAgent {
  agent: Agent;
  /** The agent's parts (masker, metrics, sandbox, ...), for start-up and tests. */
  parts: AgentParts;
  logger: Logger;
  url: string;
  port: number;
  /** The plain tokens with every scope (configured or generated); tokens given as SHA-256 are not here. */
  tokens: string[];
  generatedToken: boolean;
  close(): Promise<void>;
}

/** Loads and validates the configuration and builds the agent, without serving HTTP. */
export async function openAgent(options: OpenAgentOptions): Promise<ComposedAgent & { settings: AgentSettings }> {
  const env = options.env ?? process.env;
  const settings = readAgentSettings(env);
  const { caFile, ...httpBridge } = settings.httpBridge;
  const httpCa = caFile === undefined ? undefined : await readCaFile('CREDFLOW_HTTP_BRIDGE_CA_FILE', caFile);
  const masker = new SecretMasker(undefined, settings.masker);
  // The agent's own secrets must never be printed either.
  for (const name of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) if (env[name]) masker.add(env[name]);
  const defaultKey = options.secrets?.defaultCredentials?.secretAccessKey;
  if (defaultKey) masker.add(defaultKey);
  // API tokens are compared by digest and never reach step code or a parser that quotes them: masked
  // whole (fragments of wordy tokens would blank words such as "preview").
  masker.addAll(settings.apiTokens, false);
  const logger = createLogger({
    level: options.logLevel ?? settings.logLevel,
    masker,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  });
  const config = await loadValidConfig(options.dir, env);
  const secrets = createSecretsGateway(options.secrets ?? {});
  // STS goes where Secrets Manager goes (the embedded endpoint answers both), from the same base identity.
  const awsIdentity = createAwsIdentity({
    endpoint: options.secrets?.endpoint,
    defaultRegion: options.secrets?.defaultRegion,
    defaultCredentials: options.secrets?.defaultCredentials,
    ...options.assumeRole,
  });
  // RDS IAM tokens are signed with the same base identity as the Secrets Manager calls, or with
  // the temporary credentials of an integration's roleArn, assumed through the same AwsIdentity.
  const rdsIamTokens = new RdsIamTokens({
    credentials: options.secrets?.defaultCredentials,
    defaultRegion: options.secrets?.defaultRegion,
    reuseMs: settings.rdsIamTokenReuseMs,
    awsIdentity,
    masker,
    logger,
    ...(options.rdsIamNow ? { now: options.rdsIamNow } : {}),
  });
  const vault = await vaultClientOf(settings, masker);
  const ssm = createSsmGateway(options.secrets ?? {});
  const composed = createAgent({
    config,
    settings,
    secrets,
    rdsIamTokens,
    awsIdentity,
    vault,
    http: createHttpGateway({
      ...httpBridge,
      ...(httpCa === undefined ? {} : { ca: httpCa }),
      ...(options.httpResolver ? { resolve: options.httpResolver } : {}),
    }),
    ssm,
    masker,
    logger,
    appEnv: readAppEnv(env),
    loadConfig: () => loadConfig(options.dir, env),
  });
  return { ...composed, settings };
}

/** The Vault client when VAULT_ADDR is set; its token and AppRole secret_id are masked. */
async function vaultClientOf(settings: AgentSettings, masker: SecretMasker): Promise<VaultClient | undefined> {
  const { vault } = settings;
  if (!vault) return undefined;
  const { credentials } = vault;
  masker.add('token' in credentials ? credentials.token : credentials.appRole.secretId, false);
  const caCert = vault.caCertFile === undefined ? undefined : await readCaFile('VAULT_CACERT', vault.caCertFile);
  return createVaultClient({
    addr: vault.addr,
    credentials,
    namespace: vault.namespace,
    caCert,
    onToken: (token) => masker.add(token, false),
  });
}

/** Tokens from the options, or else from CREDFLOW_API_TOKENS and CREDFLOW_TOKENS_FILE together. */
async function configuredTokens(
  options: StartAgentOptions,
  settings: AgentSettings,
): Promise<{ access: AccessToken[]; plain: string[] }> {
  if (options.tokens) {
    const access = options.tokens.map((t) => (typeof t === 'string' ? fullAccessToken(t) : toAccessToken(t)));
    const plain = options.tokens.flatMap((t) => (typeof t === 'string' ? [t] : t.token ? [t.token] : []));
    return { access, plain };
  }
  const access = settings.apiTokens.map(fullAccessToken);
  const plain = [...settings.apiTokens];
  if (settings.tokensFile) {
    const fromFile = await readTokensFile(
      settings.tokensFile,
      options.env ?? process.env,
      new Set(access.map((a) => a.id)),
    );
    access.push(...fromFile.tokens);
    plain.push(...fromFile.plain);
  }
  return { access, plain };
}

/** Builds the agent and serves its HTTP API until close(). */
export async function startAgent(options: StartAgentOptions): Promise<RunningAgent> {
  const { agent, parts, settings } = await openAgent(options);
  const { logger } = parts;
  let access: AccessToken[];
  let plain: string[];
  try {
    ({ access, plain } = await configuredTokens(options, settings));
  } catch (error) {
    await agent.close();
    throw error;
  }
  const generated = access.length === 0;
  if (generated) {
    const token = randomBytes(24).toString('base64url');
    access = [fullAccessToken(token)];
    plain = [token];
  }
  parts.masker.addAll(plain, false);
  const tokens = plain.filter((t) =>
    access.some((a) => a.digest.equals(sha256(t)) && a.scopes.size === scopes.length && a.unrestricted),
  );
  const http = settings.http;
  const authFailures = new AuthFailureLimiter({
    limit: http.authFailureLimit,
    windowMs: http.authFailureWindowMs,
    maxAddresses: http.authFailureAddresses,
    logger,
  });
  const httpMetrics = createHttpMetrics(parts.metrics.registry);
  const app = createApp({
    agent,
    tokens: access,
    logger,
    masker: parts.masker,
    registry: parts.metrics.registry,
    authFailures,
    httpMetrics,
  });
  const server = createHttpServer(app, http, httpMetrics);
  const host = options.host ?? settings.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? settings.port, host, () => {
      server.off('error', reject);
      // An error of the listening socket later (accept failing with EMFILE under a connection
      // flood, ...) is logged; without a listener it would end the process.
      server.on('error', (error: NodeJS.ErrnoException) => {
        logger.error({ event: 'http.server_error', code: error.code }, 'the HTTP server reported an error');
      });
      resolve();
    });
  }).catch(async (error: unknown) => {
    authFailures.close();
    await agent.close();
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${host}:${options.port ?? settings.port}`;
    const why =
      code === 'EADDRINUSE'
        ? 'the port is already in use (pass --port or set PORT)'
        : code === 'EACCES'
          ? 'permission denied'
          : String(code ?? error);
    throw new CredflowError('LISTEN_FAILED', `cannot listen on ${where}: ${why}`, { cause: error });
  });
  parts.sandbox.warm();
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // A rejected reload is already logged, counted and kept in configStatus(): nothing more to do here.
  const reload = (trigger: ReloadTrigger) => () =>
    void agent
      .reload(trigger)
      .catch((error: unknown) =>
        logger.error({ event: 'config.reload', trigger, outcome: 'error', error: String(error) }, 'reload failed'),
      );
  const watcher = options.watch === false ? undefined : watchConfig(options.dir, reload('watch'), logger);
  const onSighup = reload('signal');
  if (options.reloadOnSighup !== false) process.on('SIGHUP', onSighup);
  logger.info(
    {
      event: 'agent.listening',
      url,
      integrations: parts.config.integrations.size,
      workflows: parts.config.workflows.size,
    },
    'credflow agent listening',
  );
  let closing: Promise<void> | undefined;
  return {
    agent,
    parts,
    logger,
    url,
    port,
    tokens,
    generatedToken: generated,
    close() {
      closing ??= (async () => {
        watcher?.close();
        process.off('SIGHUP', onSighup);
        // Stop accepting, let requests in flight answer (up to a grace period), then drain the pools.
        await new Promise<void>((resolve) => {
          const grace = setTimeout(() => server.closeAllConnections(), 5_000).unref();
          server.close(() => {
            clearTimeout(grace);
            resolve();
          });
          server.closeIdleConnections();
        });
        authFailures.close();
        await agent.close();
      })();
      return closing;
    },
  };
}

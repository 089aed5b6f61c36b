import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DestinationStream, Logger } from 'pino';
import { CredflowError } from '../errors.js';
import { loadValidConfig, readAgentSettings, readAppEnv, type AgentSettings } from '../config/index.js';
import { createApp } from '../http/index.js';
import { createLogger } from '../logging/index.js';
import { SecretMasker } from '../masking/index.js';
import { createSecretsGateway, type SecretsGatewayOptions } from '../secrets/index.js';
import { createAgent, type Agent } from './create-agent.js';

export interface OpenAgentOptions {
  /** The folder holding workflows/ and integrations/. */
  dir: string;
  env?: NodeJS.ProcessEnv;
  secrets?: SecretsGatewayOptions;
  logDestination?: DestinationStream;
  /** Overrides CREDFLOW_LOG_LEVEL. */
  logLevel?: AgentSettings['logLevel'];
}

export interface StartAgentOptions extends OpenAgentOptions {
  /** Override PORT / HOST (0 picks a free port). */
  port?: number;
  host?: string;
  /** Override CREDFLOW_API_TOKENS. */
  tokens?: string[];
}

export interface RunningAgent {
  agent: Agent;
  logger: Logger;
  url: string;
  port: number;
  /** The accepted tokens; one is generated when none is configured. */
  tokens: string[];
  generatedToken: boolean;
  close(): Promise<void>;
}

/** Loads and validates the configuration and builds the agent, without serving HTTP. */
export async function openAgent(options: OpenAgentOptions): Promise<{ agent: Agent; settings: AgentSettings }> {
  const env = options.env ?? process.env;
  const settings = readAgentSettings(env);
  const masker = new SecretMasker();
  // The agent's own secrets must never be printed either.
  for (const name of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) if (env[name]) masker.add(env[name]);
  masker.addAll(settings.apiTokens);
  const logger = createLogger({
    level: options.logLevel ?? settings.logLevel,
    masker,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  });
  const config = await loadValidConfig(options.dir, env);
  const secrets = createSecretsGateway(options.secrets ?? {});
  const agent = createAgent({ config, settings, secrets, masker, logger, appEnv: readAppEnv(env) });
  return { agent, settings };
}

/** Builds the agent and serves its HTTP API until close(). */
export async function startAgent(options: StartAgentOptions): Promise<RunningAgent> {
  const { agent, settings } = await openAgent(options);
  const configured = options.tokens ?? settings.apiTokens;
  const tokens = configured.length > 0 ? configured : [randomBytes(24).toString('base64url')];
  agent.masker.addAll(tokens);
  const app = createApp({ agent, tokens });
  const host = options.host ?? settings.host;
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(options.port ?? settings.port, host, (error?: Error) => (error ? reject(error) : resolve(s)));
  }).catch(async (error: unknown) => {
    await agent.close();
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${host}:${options.port ?? settings.port}`;
    const why = code === 'EADDRINUSE' ? 'the port is already in use (pass --port or set PORT)' : code === 'EACCES' ? 'permission denied' : String(code ?? error);
    throw new CredflowError('LISTEN_FAILED', `cannot listen on ${where}: ${why}`, { cause: error });
  });
  agent.sandbox.warm();
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  agent.logger.info({ event: 'agent.listening', url, integrations: agent.config.integrations.size, workflows: agent.config.workflows.size }, 'credflow agent listening');
  let closing: Promise<void> | undefined;
  return {
    agent,
    logger: agent.logger,
    url,
    port,
    tokens,
    generatedToken: configured.length === 0,
    close() {
      closing ??= (async () => {
        // Stop accepting, let requests in flight answer (up to a grace period), then drain the pools.
        await new Promise<void>((resolve) => {
          const grace = setTimeout(() => server.closeAllConnections(), 5_000).unref();
          server.close(() => {
            clearTimeout(grace);
            resolve();
          });
          server.closeIdleConnections();
        });
        await agent.close();
      })();
      return closing;
    },
  };
}

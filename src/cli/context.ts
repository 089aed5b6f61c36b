import path from 'node:path';
import pino from 'pino';
import { openAgent, type Agent } from '../agent/index.js';
import { readEmbeddedState } from '../embedded/index.js';
import { CredflowError } from '../errors.js';
import type { SecretsGatewayOptions } from '../secrets/index.js';
import { maskedError } from '../use-cases/index.js';
import { printNotice } from './print.js';

export interface GlobalOptions {
  dir: string;
  json: boolean;
  verbose: boolean;
}

/** How the CLI's agent reaches its stores, and whether that was through the embedded demo. */
export interface SecretsRoute {
  options: SecretsGatewayOptions;
  /** `embedded`: a running `npm start`; `environment`: an endpoint set in the AWS SDK's environment; `default`: the SDK's own chain. */
  source: 'embedded' | 'environment' | 'default';
  /** The environment the agent reads: the process's, plus the demo's Vault when none is set. */
  env: NodeJS.ProcessEnv;
}

/**
 * Where the CLI's agent sends its store calls: AWS calls to the SDK's environment, else to a
 * running `npm start`; Vault calls to VAULT_ADDR, else to the running `npm start`'s Vault.
 */
export async function secretsOptionsFor(dir: string, env: NodeJS.ProcessEnv): Promise<SecretsRoute> {
  const embedded = await readEmbeddedState(dir);
  const vault = !env.VAULT_ADDR && embedded?.vault;
  const withVault = vault ? { ...env, VAULT_ADDR: vault.addr, CREDFLOW_VAULT_TOKEN: vault.token } : env;
  const ofEmbedded = embedded ? `of the embedded agent (npm start, pid ${embedded.pid})` : '';
  if (env.AWS_ENDPOINT_URL_SECRETS_MANAGER || env.AWS_ENDPOINT_URL) {
    if (vault) printNotice(`credflow: using the Vault ${ofEmbedded} at ${vault.addr}`);
    return { options: {}, source: 'environment', env: withVault };
  }
  if (!embedded) return { options: {}, source: 'default', env: withVault };
  printNotice(
    `credflow: using the Secrets Manager endpoint ${ofEmbedded} at ${embedded.secretsEndpoint}` +
      (vault ? `, and its Vault at ${vault.addr}` : ''),
  );
  // The endpoint accepts only the key pair of this start (from the 0600 state file), whatever AWS
  // credentials the environment holds.
  return {
    options: {
      endpoint: embedded.secretsEndpoint,
      defaultRegion: embedded.region,
      defaultCredentials: embedded.credentials,
    },
    source: 'embedded',
    env: withVault,
  };
}

/** What the SDK says when it has no credentials or region to use (see src/secrets). */
const noAwsSetup = /CredentialsProviderError|no AWS credentials|no AWS region/;

/**
 * Opens an in-process agent on the folder given by --dir. Its logs go to stderr with --verbose
 * only. `secrets: true` for commands that reach Secrets Manager: only they look for (and announce)
 * the embedded endpoint.
 */
export async function withAgent<T>(
  options: GlobalOptions,
  use: (agent: Agent) => Promise<T>,
  usage: { secrets?: boolean } = {},
): Promise<T> {
  const dir = path.resolve(options.dir);
  const route: SecretsRoute = usage.secrets
    ? await secretsOptionsFor(dir, process.env)
    : { options: {}, source: 'default', env: process.env };
  const { agent, parts } = await openAgent({
    dir,
    env: route.env,
    secrets: route.options,
    logDestination: pino.destination({ fd: 2, sync: true }),
    logLevel: options.verbose ? 'info' : 'silent',
  });
  try {
    return await use(agent);
  } catch (error) {
    if (!(error instanceof CredflowError)) throw error;
    const hint =
      usage.secrets && route.source === 'default' && noAwsSetup.test(error.message)
        ? `; hint: no AWS credentials found and no running \`npm start\` agent in ${dir} (.credflow/embedded.json);` +
          ' start it with `npm start`, or set AWS_REGION and credentials'
        : '';
    // This process is the boundary the error leaves by: masked here, once.
    throw maskedError(error, parts.masker, hint);
  } finally {
    await agent.close();
  }
}

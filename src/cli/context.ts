import path from 'node:path';
import pino from 'pino';
import { openAgent } from '../agent/start-agent.js';
import type { Agent } from '../agent/index.js';
import { embeddedAwsCredentials } from '../embedded/start-embedded.js';
import { readEmbeddedState } from '../embedded/embedded-state.js';
import type { SecretsGatewayOptions } from '../secrets/index.js';
import { CredflowError } from '../errors.js';

export interface GlobalOptions {
  dir: string;
  json: boolean;
  verbose: boolean;
}

/** Where the CLI's agent sends Secrets Manager calls: the SDK's environment, else a running `npm start`. */
export async function secretsOptionsFor(dir: string, env: NodeJS.ProcessEnv): Promise<SecretsGatewayOptions> {
  if (env.AWS_ENDPOINT_URL_SECRETS_MANAGER || env.AWS_ENDPOINT_URL) return {};
  const embedded = await readEmbeddedState(dir);
  if (!embedded) return {};
  process.stderr.write(`credflow: using the Secrets Manager endpoint of the embedded agent (npm start, pid ${embedded.pid}) at ${embedded.secretsEndpoint}\n`);
  const hasCredentials = Boolean(env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE);
  return {
    endpoint: embedded.secretsEndpoint,
    defaultRegion: embedded.region,
    ...(hasCredentials ? {} : { defaultCredentials: embeddedAwsCredentials }),
  };
}

/** Opens an in-process agent on the folder given by --dir; logs go to stderr. */
export async function withAgent<T>(options: GlobalOptions, use: (agent: Agent) => Promise<T>): Promise<T> {
  const dir = path.resolve(options.dir);
  const { agent } = await openAgent({
    dir,
    secrets: await secretsOptionsFor(dir, process.env),
    logDestination: pino.destination({ fd: 2, sync: true }),
    logLevel: options.verbose ? 'info' : 'warn',
  });
  try {
    return await use(agent);
  } catch (error) {
    // Errors leave the process only masked, like everything else the agent prints.
    if (error instanceof CredflowError) {
      throw new CredflowError(error.code, agent.masker.mask(error.message), {
        ...(error.details ? { details: agent.masker.maskValue(error.details) } : {}),
      });
    }
    throw error;
  } finally {
    await agent.close();
  }
}

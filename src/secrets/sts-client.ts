import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { SecretStoreError } from './secrets-manager-gateway.js';

/** An access key pair, with the session token of temporary credentials. */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface AssumedRole {
  credentials: Required<AwsKeys>;
  /** Epoch milliseconds. */
  expiration: number;
}

export interface AssumeRoleInput {
  region: string;
  /** The identity that assumes the role; undefined: the SDK's default credential chain. */
  base: AwsKeys | undefined;
  /** Names `base` in the client cache (a hash, never the secret key). */
  baseKey: string;
  roleArn: string;
  externalId: string | undefined;
  sessionName: string;
  durationSeconds: number | undefined;
}

export interface StsCaller {
  /** Rejects with a SecretStoreError named as STS names it (AccessDenied, ExpiredToken, ...). */
  assumeRole(input: AssumeRoleInput): Promise<AssumedRole>;
  close(): void;
}

const maxClients = 32;

/**
 * Calls STS AssumeRole with the real SDK. One client per region and base identity, reused (a
 * client built on the default chain keeps what the chain found), the least recently used destroyed
 * past 32.
 */
export function createStsCaller(options: { endpoint?: string | undefined }): StsCaller {
  const clients = new Map<string, STSClient>();
  const clientFor = (input: AssumeRoleInput): STSClient => {
    const key = `${input.region}\u0000${input.baseKey}`;
    let client = clients.get(key);
    if (client) {
      clients.delete(key);
    } else {
      client = new STSClient({
        region: input.region,
        requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(input.base ? { credentials: { ...input.base } } : {}),
      });
    }
    clients.set(key, client);
    if (clients.size > maxClients) {
      const [oldestKey, oldest] = clients.entries().next().value as [string, STSClient];
      clients.delete(oldestKey);
      oldest.destroy();
    }
    return client;
  };
  return {
    async assumeRole(input) {
      let out;
      try {
        out = await clientFor(input).send(
          new AssumeRoleCommand({
            RoleArn: input.roleArn,
            RoleSessionName: input.sessionName,
            ...(input.externalId === undefined ? {} : { ExternalId: input.externalId }),
            ...(input.durationSeconds === undefined ? {} : { DurationSeconds: input.durationSeconds }),
          }),
        );
      } catch (error) {
        throw stsError(error, input.roleArn);
      }
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
        throw { name: 'InvalidResponse', message: `AssumeRole of ${input.roleArn} answered no credentials` };
      }
      return {
        credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
        expiration: c.Expiration.getTime(),
      };
    },
    close() {
      for (const client of clients.values()) client.destroy();
      clients.clear();
    },
  };
}

/** STS's error name kept (AccessDenied, ExpiredToken, ...), or Node's network code; the message says it was AssumeRole. */
function stsError(error: unknown, roleArn: string): SecretStoreError {
  if (!(error instanceof Error)) return { name: 'Error', message: `AssumeRole of ${roleArn} failed` };
  const code = (error as NodeJS.ErrnoException).code;
  const name = code && /^E[A-Z]+$/.test(code) ? code : error.name;
  if (error.name === 'CredentialsProviderError') {
    return {
      name,
      message: `AssumeRole of ${roleArn}: no base AWS credentials (pass credentials, or give the agent AWS credentials)`,
    };
  }
  const message = error.message || name;
  return {
    name,
    message: message.includes(roleArn) ? `AssumeRole: ${message}` : `AssumeRole of ${roleArn}: ${message}`,
  };
}

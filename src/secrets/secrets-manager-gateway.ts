import { createHash } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { GetSecretValueRequest, SecretValue } from './get-secret-value-request.js';

export interface SecretsGatewayOptions {
  /** Region when neither the request nor AWS_REGION names one. */
  defaultRegion?: string;
  /** Endpoint override (the embedded local endpoint); otherwise the SDK's own environment applies. */
  endpoint?: string;
  /** Credentials when the request brings none; otherwise the SDK's default chain applies. */
  defaultCredentials?: { accessKeyId: string; secretAccessKey: string };
}

/** An AWS error as step code will see it: the service's error name (or Node's network code) and message. */
export interface SecretStoreError {
  name: string;
  message: string;
}

/** What a call comes to: the store's refusal (an unknown secret, no access, no network) is an answer, not a rejection. */
export type SecretAnswer = { ok: true; value: SecretValue } | { ok: false; error: SecretStoreError };

export interface SecretsGateway {
  getSecretValue(request: GetSecretValueRequest): Promise<SecretAnswer>;
  close(): void;
}

/**
 * Performs Secrets Manager calls with the real AWS SDK. Clients are reused per region and
 * credentials (building one is costly; the key holds a hash, never the secret access key), and the
 * least recently used is destroyed past 32, since credentials passed by steps may rotate.
 */
const maxClients = 32;

export function createSecretsGateway(options: SecretsGatewayOptions = {}): SecretsGateway {
  const clients = new Map<string, SecretsManagerClient>();
  const keyOfCredentials = (credentials: object): string =>
    createHash('sha256').update(JSON.stringify(credentials)).digest('hex');
  // The agent's own credentials are the same object on every call: hashed once.
  let defaultKey: string | undefined;
  const defaultCredentialsKey = (): string => (defaultKey ??= keyOfCredentials(options.defaultCredentials as object));

  const clientFor = (request: GetSecretValueRequest): SecretsManagerClient | SecretStoreError => {
    const region = request.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? options.defaultRegion;
    if (!region) {
      return {
        name: 'InvalidParameterException',
        message: 'no AWS region: pass region to getSecretValue, or set AWS_REGION for the agent',
      };
    }
    const credentials = request.credentials ?? options.defaultCredentials;
    const key = `${region}\u0000${credentials ? (credentials === options.defaultCredentials ? defaultCredentialsKey() : keyOfCredentials(credentials)) : 'default-chain'}`;
    let client = clients.get(key);
    if (client) {
      // Most recently used last, so the first key is the one to evict.
      clients.delete(key);
      clients.set(key, client);
    } else {
      client = new SecretsManagerClient({
        region,
        // Bound every attempt, so an endpoint that accepts but never answers cannot hold a run.
        requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(credentials ? { credentials } : {}),
      });
      clients.set(key, client);
      if (clients.size > maxClients) {
        const [oldestKey, oldest] = clients.entries().next().value as [string, SecretsManagerClient];
        clients.delete(oldestKey);
        oldest.destroy();
      }
    }
    return client;
  };

  return {
    async getSecretValue(request) {
      const client = clientFor(request);
      if (!(client instanceof SecretsManagerClient)) return { ok: false, error: client };
      try {
        const out = await client.send(
          new GetSecretValueCommand({
            SecretId: request.SecretId,
            ...(request.VersionId ? { VersionId: request.VersionId } : {}),
            ...(request.VersionStage ? { VersionStage: request.VersionStage } : {}),
          }),
        );
        const value: SecretValue = {
          Name: out.Name,
          ARN: out.ARN,
          VersionId: out.VersionId,
          VersionStages: out.VersionStages ?? [],
        };
        if (out.SecretString !== undefined) value.SecretString = out.SecretString;
        if (out.SecretBinary !== undefined) value.SecretBinary = Buffer.from(out.SecretBinary).toString('base64');
        return { ok: true, value };
      } catch (error) {
        return { ok: false, error: withSecretId(toSecretStoreError(error), request.SecretId) };
      }
    },
    close() {
      for (const client of clients.values()) client.destroy();
      clients.clear();
    },
  };
}

/**
 * AWS's ResourceNotFoundException does not say which secret ("Secrets Manager can't find the
 * specified secret."); a secret's id is not secret, so the error names it.
 */
function withSecretId(error: SecretStoreError, secretId: string): SecretStoreError {
  if (error.name !== 'ResourceNotFoundException' || error.message.includes(secretId)) return error;
  const message = error.message.endsWith('secret.')
    ? `${error.message.slice(0, -1)}: ${secretId}`
    : `${error.message} (SecretId: ${secretId})`;
  return { name: error.name, message };
}

function toSecretStoreError(error: unknown): SecretStoreError {
  if (error instanceof Error) {
    // The SDK names service errors after the AWS error type; network failures keep Node's code
    // (ECONNRESET, ECONNREFUSED), which the SDK may have renamed.
    const code = (error as NodeJS.ErrnoException).code;
    const name = code && /^E[A-Z]+$/.test(code) ? code : error.name;
    const message = error.message || name;
    if (/credential/i.test(message) && error.name === 'CredentialsProviderError') {
      return {
        name,
        message: 'no AWS credentials: pass credentials to getSecretValue, or give the agent AWS credentials',
      };
    }
    return { name, message };
  }
  return { name: 'Error', message: String(error) };
}

import { createHash } from 'node:crypto';

/** Static AWS credentials: the agent's own, or ones a step passes. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** How the agent reaches AWS stores (Secrets Manager and SSM alike). */
export interface AwsGatewayOptions {
  /** Region when neither the request nor AWS_REGION names one. */
  defaultRegion?: string;
  /** Endpoint override (the embedded local endpoint, which serves both); otherwise the SDK's own environment applies. */
  endpoint?: string;
  /** Credentials when the request brings none; otherwise the SDK's default chain applies. */
  defaultCredentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Where one call goes: the step's own region and credentials, if it passed any. */
export interface AwsTarget {
  region?: string | undefined;
  credentials?: AwsCredentials | undefined;
}

/** An AWS error as step code will see it: the service's error name (or Node's network code) and message. */
export interface SecretStoreError {
  name: string;
  message: string;
}

/** The settings every SDK client is built with; each gateway adds nothing but its client class. */
export interface AwsClientConfig {
  region: string;
  requestHandler: { connectionTimeout: number; requestTimeout: number };
  endpoint?: string;
  credentials?: AwsCredentials;
}

const maxClients = 32;

/**
 * SDK clients reused per region and credentials (building one is costly; the key holds a hash,
 * never the secret access key); the least recently used is destroyed past 32, since credentials
 * passed by steps may rotate.
 */
export class AwsClients<C extends { destroy(): void }> {
  private readonly clients = new Map<string, C>();
  // The agent's own credentials are the same object on every call: hashed once.
  private defaultKey: string | undefined;

  constructor(
    private readonly options: AwsGatewayOptions,
    private readonly build: (config: AwsClientConfig) => C,
  ) {}

  /** The client for `target`, or the error a step sees when no region is known. */
  clientFor(target: AwsTarget, operation: string): C | SecretStoreError {
    const { options } = this;
    const region = target.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? options.defaultRegion;
    if (!region) {
      return {
        name: 'InvalidParameterException',
        message: `no AWS region: pass region to ${operation}, or set AWS_REGION for the agent`,
      };
    }
    const credentials = target.credentials ?? options.defaultCredentials;
    const key = `${region}\u0000${credentials ? this.keyOf(credentials) : 'default-chain'}`;
    let client = this.clients.get(key);
    if (client) {
      // Most recently used last, so the first key is the one to evict.
      this.clients.delete(key);
      this.clients.set(key, client);
      return client;
    }
    client = this.build({
      region,
      // Bound every attempt, so an endpoint that accepts but never answers cannot hold a run.
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(credentials ? { credentials } : {}),
    });
    this.clients.set(key, client);
    if (this.clients.size > maxClients) {
      const [oldestKey, oldest] = this.clients.entries().next().value as [string, C];
      this.clients.delete(oldestKey);
      oldest.destroy();
    }
    return client;
  }

  close(): void {
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }

  private keyOf(credentials: AwsCredentials): string {
    const hash = () => createHash('sha256').update(JSON.stringify(credentials)).digest('hex');
    if (credentials !== this.options.defaultCredentials) return hash();
    return (this.defaultKey ??= hash());
  }
}

/** A thrown SDK error as step code sees it; `operation` names the call in the hint for missing credentials. */
export function toSecretStoreError(error: unknown, operation: string): SecretStoreError {
  if (error instanceof Error) {
    // The SDK names service errors after the AWS error type; network failures keep Node's code
    // (ECONNRESET, ECONNREFUSED), which the SDK may have renamed.
    const code = (error as NodeJS.ErrnoException).code;
    const name = code && /^E[A-Z]+$/.test(code) ? code : error.name;
    const message = error.message || name;
    if (/credential/i.test(message) && error.name === 'CredentialsProviderError') {
      return {
        name,
        message: `no AWS credentials: pass credentials to ${operation}, or give the agent AWS credentials`,
      };
    }
    return { name, message };
  }
  return { name: 'Error', message: String(error) };
}

/** A Date from the SDK as JSON step code can read (ISO 8601). */
export function isoDate(date: Date | undefined): string | undefined {
  return date === undefined ? undefined : date.toISOString();
}

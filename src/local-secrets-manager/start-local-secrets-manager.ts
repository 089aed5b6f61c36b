import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AwsServiceError, serializationError } from './aws-service-error.js';
import { FaultInjector } from './faults.js';
import type { Faults } from './faults.js';
import { findOperation, operations } from './operations.js';
import { Params } from './params.js';
import { MAX_BODY_BYTES, readRequest } from './read-request.js';
import type { IncomingCall } from './read-request.js';
import { SecretStore } from './secret-store.js';
import type { StoreLimits, StoreStats } from './secret-store.js';
import { allowedHosts, checkHost } from './host-header.js';
import { randomKeyPair, verifySignature } from './sigv4.js';
import type { AwsKeyPair } from './sigv4.js';

export interface RecordedRequest {
  readonly operation: string;
  /** SecretId of the request, or Name for CreateSecret. */
  readonly secretId?: string;
  /** From the SigV4 Authorization header: the verified key, or the one a refused request named. */
  readonly accessKeyId?: string;
  /** HTTP status answered; 0 when the connection was dropped without an answer (`down`). */
  readonly status: number;
  /** The AWS error name of an error answer. */
  readonly errorType?: string;
}

export interface SecretInput {
  SecretString?: string;
  SecretBinary?: Uint8Array;
}

export interface LocalSecretsManager {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  /** The key pair requests must be signed with (the first of `options.credentials`, else generated). */
  readonly credentials: AwsKeyPair;
  /** Seeds a secret in process (not recorded, no faults); throws an error named like the AWS one. */
  createSecret(name: string, value: SecretInput, opts?: { description?: string }): { ARN: string; VersionId: string };
  /** Adds a version in process; `stages` defaults to ["AWSCURRENT"]. */
  putSecretValue(secretId: string, value: SecretInput, stages?: string[]): { VersionId: string };
  /** Requests received over HTTP, in order. */
  readonly requests: ReadonlyArray<RecordedRequest>;
  countRequests(operation?: string): number;
  /** Every SecretString, and every SecretBinary as UTF-8 text, held now (deleted or dropped versions are gone). */
  heldValues(): string[];
  /** How much the store holds. */
  stats(): StoreStats;
  resetRequests(): void;
  /** Replaces the faults applied to matching subsequent requests until cleared. */
  setFaults(faults: Faults): void;
  clearFaults(): void;
  /** Closes the server and destroys open sockets. */
  close(): Promise<void>;
}

export interface LocalSecretsManagerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Used in ARNs; default us-east-1. */
  region?: string;
  /**
   * The key pairs whose SigV4 signatures are accepted; every request must carry one. Default: one
   * random pair, see `credentials`. There is no unsigned mode.
   */
  credentials?: readonly AwsKeyPair[];
  /** Bounds on what the store holds (defaults: `defaultStoreLimits`). */
  limits?: Partial<StoreLimits>;
  /** Told each value stored, e.g. for a test's leak search; the endpoint keeps no history itself. */
  onValueStored?: (text: string) => void;
}

/**
 * Starts an AWS Secrets Manager-compatible endpoint (AWS JSON 1.1 over HTTP) backed by memory,
 * for the embedded mode and as the tests' double. Every request must name this endpoint in its
 * Host header and carry a valid SigV4 signature by one of its key pairs; anything else is refused
 * with AWS's own errors before an operation (or a fault) runs.
 */
export async function startLocalSecretsManager(options: LocalSecretsManagerOptions = {}): Promise<LocalSecretsManager> {
  const host = options.host ?? '127.0.0.1';
  const store = new SecretStore({
    region: options.region ?? 'us-east-1',
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.onValueStored ? { onValueStored: options.onValueStored } : {}),
  });
  const keyPairs = options.credentials?.length ? options.credentials : [randomKeyPair()];
  const keys = new Map(keyPairs.map((pair) => [pair.accessKeyId, pair.secretAccessKey]));
  let hosts: ReadonlySet<string> = new Set();
  const faults = new FaultInjector();
  const closing = new AbortController();
  let requests: RecordedRequest[] = [];
  // A caller chooses these strings, signed or not: the record keeps a bounded number, each cut short.
  const maxRecorded = 10_000;
  const maxRecordedChars = 256;

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => req.socket.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const call = await readRequest(req);
    if (!call) return;
    try {
      checkHost(req.headers.host, hosts);
      verifySignature(
        { method: req.method ?? '', url: req.url ?? '/', rawHeaders: req.rawHeaders, bodySha256: call.bodySha256 },
        keys,
        Date.now(),
      );
    } catch (error) {
      const refused = error instanceof AwsServiceError ? error : internalError();
      record(call, refused.status, refused.type);
      send(res, refused.status, { __type: refused.type, message: refused.message }, refused.type);
      return;
    }
    const latencyMs = faults.latencyFor(call.operation);
    if (latencyMs > 0) {
      try {
        await sleep(latencyMs, undefined, { signal: closing.signal });
      } catch {
        req.socket.destroy();
        return;
      }
    }
    const fault = faults.take(call.operation);
    if (fault.kind === 'down') {
      record(call, 0);
      req.socket.destroy();
      return;
    }
    let status = 200;
    let payload: Record<string, unknown>;
    let errorType: string | undefined;
    try {
      if (fault.kind === 'error') throw fault.error;
      payload = answer(call);
    } catch (error) {
      const known = error instanceof AwsServiceError ? error : internalError();
      ({ status, type: errorType } = known);
      payload = { __type: known.type, message: known.message };
    }
    record(call, status, errorType);
    send(res, status, payload, errorType);
  }

  function answer(call: IncomingCall): Record<string, unknown> {
    if (call.tooLarge) {
      throw new AwsServiceError('RequestEntityTooLargeException', `Request body exceeds ${MAX_BODY_BYTES} bytes.`, 413);
    }
    const operation = call.knownTarget ? findOperation(call.operation) : undefined;
    if (!operation) {
      const named = call.operation || '(no X-Amz-Target)';
      throw new AwsServiceError('UnknownOperationException', `Unknown operation: ${named}`);
    }
    if (!call.body) throw serializationError('The request body is not a JSON object.');
    return operation(new Params(call.body), store);
  }

  function record(call: IncomingCall, status: number, errorType?: string): void {
    const cut = (text: string) => text.slice(0, maxRecordedChars);
    requests.push({
      operation: cut(call.operation),
      ...(call.secretId === undefined ? {} : { secretId: cut(call.secretId) }),
      ...(call.accessKeyId === undefined ? {} : { accessKeyId: cut(call.accessKeyId) }),
      status,
      ...(errorType === undefined ? {} : { errorType }),
    });
    // A long-running embedded endpoint keeps only the latest requests.
    if (requests.length > maxRecorded) requests = requests.slice(-maxRecorded / 2);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  hosts = allowedHosts(host, port);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    credentials: keyPairs[0]!,
    createSecret(name, value, opts = {}) {
      // Checked first: without a value CreateSecret would leave a secret with no version behind.
      if (!value.SecretString && !value.SecretBinary?.length) {
        throw new AwsServiceError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
      }
      const out = operations.CreateSecret(
        new Params({ Name: name, Description: opts.description, ...wireValue(value) }),
        store,
      );
      return { ARN: out.ARN, VersionId: String(out.VersionId) };
    },
    putSecretValue(secretId, value, stages) {
      const out = operations.PutSecretValue(
        new Params({ SecretId: secretId, VersionStages: stages, ...wireValue(value) }),
        store,
      );
      return { VersionId: out.VersionId };
    },
    get requests() {
      return requests;
    },
    heldValues() {
      return store.heldValues();
    },
    stats() {
      return store.stats();
    },
    countRequests(operation) {
      return operation === undefined ? requests.length : requests.filter((r) => r.operation === operation).length;
    },
    resetRequests() {
      requests = [];
    },
    setFaults(next) {
      faults.set(next);
    },
    clearFaults() {
      faults.clear();
    },
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        closing.abort();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function send(res: ServerResponse, status: number, payload: Record<string, unknown>, errorType?: string): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
    ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
  });
  res.end(body);
}

function internalError(): AwsServiceError {
  return new AwsServiceError('InternalServiceError', 'An error occurred on the server side.', 500);
}

/** The JSON form of a value: SecretBinary travels as base64. */
function wireValue(value: SecretInput): Record<string, unknown> {
  return {
    SecretString: value.SecretString,
    SecretBinary: value.SecretBinary === undefined ? undefined : Buffer.from(value.SecretBinary).toString('base64'),
  };
}

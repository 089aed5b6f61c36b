import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AwsServiceError, serializationError } from './aws-service-error.js';
import { findOperation, operations } from './operations.js';
import { ParameterStore, type ParameterType } from './parameter-store.js';
import { findSsmOperation } from './ssm-operations.js';
import { Params } from './params.js';
import { MAX_BODY_BYTES, readRequest } from './read-request.js';
import type { IncomingCall } from './read-request.js';
import { SecretStore } from './secret-store.js';
import type { StoreLimits } from './secret-store.js';
import { allowedHosts, checkHost } from './host-header.js';
import { randomKeyPair, verifySignature } from './sigv4.js';
import type { AwsKeyPair } from './sigv4.js';
import { assumeRole, sendQueryError, sendXml } from './sts-query.js';
import { SessionKeys, type RolePolicy, type Session } from './sts-sessions.js';

/** How an extension answers a request instead of its operation. */
export type Interception = { drop: true } | { error: AwsServiceError } | undefined;

/**
 * What a caller can add to the endpoint without copying it (the tests' double adds operations,
 * faults and a record of requests). The demo uses none of it.
 */
export interface EndpointExtension {
  /** The store to serve, instead of one built from `region` and `limits`. */
  store?: SecretStore;
  /** The SSM parameters to serve, instead of an empty store. */
  parameters?: ParameterStore;
  /** More operations by name, answered like the built-in ones; a built-in name always wins. */
  operations?: Readonly<Record<string, (params: Params) => Record<string, unknown>>>;
  /**
   * Runs for a request that passed the Host and signature checks, before its operation: may wait
   * (rejecting when `signal` aborts, as the endpoint closes), drop the connection or answer an error.
   */
  intercept?(operation: string, signal: AbortSignal): Promise<Interception>;
  /** Told each request's outcome: the HTTP status (0 when the connection was dropped) and AWS error name. */
  onAnswer?(call: IncomingCall, status: number, errorType?: string): void;
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
  /** Seeds an SSM parameter in process (a new version with `overwrite`); throws an error named like the AWS one. */
  putParameter(name: string, value: string, opts?: { type?: ParameterType; overwrite?: boolean }): { Version: number };
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
  /**
   * The roles STS AssumeRole may hand out, and what their sessions may read. Without one the
   * endpoint still speaks STS, but refuses every AssumeRole with AccessDenied.
   */
  roles?: RolePolicy;
  extend?: EndpointExtension;
}

/**
 * Starts an AWS Secrets Manager-compatible endpoint (AWS JSON 1.1 over HTTP) backed by memory,
 * which also answers SSM Parameter Store reads (targets `AmazonSSM.*`, signed for `ssm`),
 * the embedded demo's store (the tests' double extends it, see `extend`). Every request must name
 * this endpoint in its Host header and carry a valid SigV4 signature by one of its key pairs;
 * anything else is refused with AWS's own errors before an operation (or an extension) runs.
 * It also answers STS AssumeRole (AWS Query protocol, SigV4 scope `sts`) as `options.roles` allows:
 * the temporary keys it mints sign Secrets Manager requests (with their session token, until they
 * expire), each checked against what the role may read.
 */
export async function startLocalSecretsManager(options: LocalSecretsManagerOptions = {}): Promise<LocalSecretsManager> {
  const host = options.host ?? '127.0.0.1';
  const extension = options.extend ?? {};
  const store =
    extension.store ??
    new SecretStore({ region: options.region ?? 'us-east-1', ...(options.limits ? { limits: options.limits } : {}) });
  const parameters = extension.parameters ?? new ParameterStore({ region: options.region ?? 'us-east-1' });
  const keyPairs = options.credentials?.length ? options.credentials : [randomKeyPair()];
  const keys = new Map(keyPairs.map((pair) => [pair.accessKeyId, pair.secretAccessKey]));
  const sessions = new SessionKeys();
  const signingKeys = { get: (id: string) => keys.get(id) ?? sessions.find(id)?.secretAccessKey };
  let hosts: ReadonlySet<string> = new Set();
  const closing = new AbortController();

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => req.socket.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const call = await readRequest(req);
    if (!call) return;
    const service = call.form ? 'sts' : call.service;
    const now = Date.now();
    try {
      checkHost(req.headers.host, hosts);
      const keyId = verifySignature(
        { method: req.method ?? '', url: req.url ?? '/', rawHeaders: req.rawHeaders, bodySha256: call.bodySha256 },
        signingKeys,
        now,
        service,
      );
      const session = sessions.find(keyId);
      if (session) sessions.check(session, call.securityToken, now, service);
      if (call.form) {
        const xml = assumeRole(call.form, keyId, options.roles, sessions, now);
        record(call, 200);
        sendXml(res, 200, xml);
        return;
      }
      if (session && !options.roles?.allows(session.roleArn, call.operation, call.secretId)) {
        throw notAuthorized(session, call.operation, call.secretId);
      }
    } catch (error) {
      const refused = error instanceof AwsServiceError ? error : internalError();
      record(call, refused.status, refused.type);
      if (call.form) sendQueryError(res, refused);
      else send(res, refused.status, { __type: refused.type, message: refused.message }, refused.type);
      return;
    }
    // Rejects when the endpoint closes during a wait: the caller of handle() drops the connection.
    const interception = extension.intercept ? await extension.intercept(call.operation, closing.signal) : undefined;
    if (interception && 'drop' in interception) {
      record(call, 0);
      req.socket.destroy();
      return;
    }
    let status = 200;
    let payload: Record<string, unknown>;
    let errorType: string | undefined;
    try {
      if (interception) throw interception.error;
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
    const operation = call.knownTarget ? operationNamed(call, call.operation) : undefined;
    if (!operation) {
      const named = call.operation || '(no X-Amz-Target)';
      throw new AwsServiceError('UnknownOperationException', `Unknown operation: ${named}`);
    }
    if (!call.body) throw serializationError('The request body is not a JSON object.');
    return operation(new Params(call.body));
  }

  function operationNamed(call: IncomingCall, name: string): ((params: Params) => Record<string, unknown>) | undefined {
    if (call.service === 'ssm') {
      const ssm = findSsmOperation(name);
      return ssm && ((params) => ssm(params, parameters));
    }
    const builtIn = findOperation(name);
    if (builtIn) return (params) => builtIn(params, store);
    const extra = extension.operations;
    return extra && Object.hasOwn(extra, name) ? extra[name] : undefined;
  }

  function record(call: IncomingCall, status: number, errorType?: string): void {
    extension.onAnswer?.(call, status, errorType);
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
    putParameter(name, value, opts = {}) {
      return { Version: parameters.put(name, value, opts).version };
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

/** Secrets Manager's answer to a session whose role may not do this, in AWS's words. */
function notAuthorized(session: Session, operation: string, secretId: string | undefined): AwsServiceError {
  return new AwsServiceError(
    'AccessDeniedException',
    `User: ${session.assumedRoleArn} is not authorized to perform: secretsmanager:${operation} on resource: ` +
      `${secretId ?? '*'} because no identity-based policy allows the secretsmanager:${operation} action`,
  );
}

function internalError(): AwsServiceError {
  return new AwsServiceError('InternalServiceError', 'An error occurred on the server side.', 500);
}

/** The JSON form of a value: SecretBinary travels as base64. */
export function wireValue(value: SecretInput): Record<string, unknown> {
  return {
    SecretString: value.SecretString,
    SecretBinary: value.SecretBinary === undefined ? undefined : Buffer.from(value.SecretBinary).toString('base64'),
  };
}

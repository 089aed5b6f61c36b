import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { DatabaseEngine, type DatabaseEngineOptions } from './database-engine.js';
import { KvStore } from './kv-store.js';
import { Tokens, type AppRoleSpec } from './tokens.js';
import { badRequest, notFound, readJsonBody, sendJson, sendNoContent, VaultReplyError } from './vault-reply.js';

export interface LocalVaultOptions {
  /** Default: a random `hvs.` token. */
  rootToken?: string;
  /** KV version 2 mounts (default: `secret`). */
  kvMounts?: readonly string[];
  appRoles?: readonly AppRoleSpec[];
  /** Where the AppRole auth method is mounted (default `approle`: logins at `auth/approle/login`). */
  appRoleMount?: string;
  /** The database secrets engine, mounted at `database/`; without it `database/` paths are 404. */
  database?: DatabaseEngineOptions;
  /** How often expired leases' users are dropped (default 1000 ms). */
  sweepIntervalMs?: number;
  /** Told every secret value the endpoint holds or hands out (for leak searches). */
  onValueStored?: (value: string) => void;
  port?: number;
  /** Serve https with this key and certificate (PEM) instead of http. */
  tls?: { key: string; cert: string };
}

/** One request as the endpoint saw it (for tests that check which calls a client makes). */
export interface VaultCall {
  method: string;
  path: string;
  namespace: string | undefined;
  status: number;
}

export interface LocalVault {
  readonly url: string;
  readonly rootToken: string;
  readonly calls: readonly VaultCall[];
  /** Writes a KV v2 secret version in process; returns its version number. */
  putKv(mount: string, path: string, data: Record<string, unknown>): number;
  /** The users of live database leases, by lease id. */
  activeDatabaseUsers(): Map<string, string>;
  /** Stops serving, then drops the users of every live lease. */
  close(): Promise<void>;
}

/**
 * A Vault-compatible endpoint on loopback, for the demo and the tests (no Vault server can be
 * installed here): token and AppRole auth, KV v2 reads, the PostgreSQL database secrets engine
 * with real users per lease, lease renew and revoke, and Vault's `{"errors":[...]}` answers.
 */
export async function startLocalVault(options: LocalVaultOptions = {}): Promise<LocalVault> {
  const onValueStored = options.onValueStored ?? (() => undefined);
  const rootToken = options.rootToken ?? `hvs.${randomBytes(18).toString('base64url')}`;
  onValueStored(rootToken);
  for (const role of options.appRoles ?? []) onValueStored(role.secretId);
  const kv = new KvStore(new Set(options.kvMounts ?? ['secret']));
  const tokens = new Tokens(rootToken, options.appRoles ?? []);
  const database = options.database ? new DatabaseEngine(options.database, onValueStored) : undefined;
  const calls: VaultCall[] = [];
  const appRoleMount = options.appRoleMount ?? 'approle';

  const route = async (req: IncomingMessage, path: string, query: URLSearchParams): Promise<unknown> => {
    const method = req.method ?? 'GET';
    if (method === 'POST' && path === `auth/${appRoleMount}/login`) {
      const body = await readJsonBody(req);
      const { token, auth } = tokens.login(body.role_id, body.secret_id);
      onValueStored(token);
      return envelope({ auth });
    }
    const header = req.headers['x-vault-token'];
    const tokenValue = typeof header === 'string' ? header : undefined;
    const token = tokens.check(tokenValue, path);
    if (method === 'GET' && path === 'auth/token/lookup-self') return envelope({ data: tokens.lookup(token) });
    if ((method === 'POST' || method === 'PUT') && path === 'auth/token/renew-self') {
      const body = await readJsonBody(req);
      return envelope({ auth: tokens.renew(token, tokenValue ?? '', body.increment) });
    }
    if (method === 'PUT' && (path === 'sys/leases/renew' || path === 'sys/leases/revoke')) {
      const body = await readJsonBody(req);
      if (typeof body.lease_id !== 'string' || body.lease_id === '') throw badRequest('lease_id must be given');
      if (path === 'sys/leases/revoke') {
        await database?.revoke(body.lease_id);
        return undefined;
      }
      if (!database?.owns(body.lease_id)) throw badRequest('lease not found or lease is not renewable');
      return envelope(await database.renew(body.lease_id, body.increment));
    }
    const creds = /^database\/creds\/([^/]+)$/.exec(path);
    if (method === 'GET' && creds && database) return envelope(await database.creds(creds[1] ?? ''));
    const kvPath = /^([^/]+)\/data\/(.+)$/.exec(path);
    if (method === 'GET' && kvPath && kv.mounts.has(kvPath[1] ?? '')) {
      const version = Number(query.get('version') ?? '0');
      if (!Number.isInteger(version) || version < 0) throw badRequest('version must be a non-negative integer');
      return envelope({ data: kv.read(kvPath[1] ?? '', kvPath[2] ?? '', version) });
    }
    throw notFound(`no handler for route "${path}". route entry not found.`);
  };

  const listener: RequestListener = (req, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const path = url.pathname.startsWith('/v1/') ? url.pathname.slice(4) : '';
    const namespace = req.headers['x-vault-namespace'];
    const record = (status: number) =>
      calls.push({
        method: req.method ?? '',
        path: url.pathname,
        namespace: typeof namespace === 'string' ? namespace : undefined,
        status,
      });
    (path === '' ? Promise.reject(notFound()) : route(req, path, url.searchParams)).then(
      (body) => {
        record(body === undefined ? 204 : 200);
        if (body === undefined) sendNoContent(res);
        else sendJson(res, 200, body);
      },
      (error: unknown) => {
        const reply = error instanceof VaultReplyError ? error : new VaultReplyError(500, ['internal error']);
        record(reply.status);
        sendJson(res, reply.status, { errors: reply.errors });
      },
    );
  };
  const server = options.tls ? createTlsServer(options.tls, listener) : createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const sweeping = { running: false };
  const sweep = setInterval(() => {
    if (!database || sweeping.running) return;
    sweeping.running = true;
    database
      .sweep()
      .catch(() => undefined)
      .finally(() => (sweeping.running = false));
  }, options.sweepIntervalMs ?? 1000);
  sweep.unref();
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    rootToken,
    calls,
    putKv(mount, path, data) {
      // As a document: its values under secret-named keys are the secrets (as for a SecretString).
      onValueStored(JSON.stringify(data));
      return kv.put(mount, path, data);
    },
    activeDatabaseUsers: () => database?.activeUsers ?? new Map(),
    async close() {
      clearInterval(sweep);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await database?.revokeAll();
    },
  };
}

/** The fields every Vault answer has around its own. */
function envelope(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...fields,
  };
}

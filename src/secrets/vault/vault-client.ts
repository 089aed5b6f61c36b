import { VaultAuth, type VaultCredentials } from './vault-auth.js';
import { VaultError, vaultErrorOf } from './vault-error.js';
import { caTransport, fetchTransport, type VaultTransport } from './vault-transport.js';

export interface VaultClientOptions {
  /** VAULT_ADDR, e.g. https://vault.example.com:8200 */
  addr: string;
  credentials: VaultCredentials;
  /** VAULT_NAMESPACE: sent as X-Vault-Namespace (Vault Enterprise / HCP). */
  namespace?: string | undefined;
  /** The PEM text of VAULT_CACERT. */
  caCert?: string | undefined;
  timeoutMs?: number;
  now?: () => number;
  /** Told every token an AppRole login issues, before it is sent anywhere (for the masker). */
  onToken?: (token: string) => void;
}

export interface KvSecret {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/** What `GET /v1/<path>` answers: a secret, with its lease when it has one. */
export interface VaultSecret {
  data: unknown;
  lease_id: string;
  lease_duration: number;
  renewable: boolean;
}

/** The Vault calls credflow makes (README: "Vault API calls"). */
export interface VaultClient {
  kvGet(mount: string, path: string, version?: number): Promise<KvSecret>;
  read(path: string): Promise<VaultSecret>;
  renewLease(leaseId: string, incrementSeconds: number): Promise<{ lease_duration: number; renewable: boolean }>;
  revokeLease(leaseId: string): Promise<void>;
}

/** Every path segment encoded, slashes kept: a path from step code cannot climb out of /v1/. */
const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');

export function createVaultClient(options: VaultClientOptions): VaultClient {
  const base = new URL(options.addr.endsWith('/') ? options.addr : `${options.addr}/`);
  const transport: VaultTransport = options.caCert ? caTransport(options.caCert) : fetchTransport;
  const timeoutMs = options.timeoutMs ?? 10_000;

  const raw = async (method: string, path: string, body: unknown, token: string | undefined, query = '') => {
    const url = new URL(`v1/${encodePath(path)}${query}`, base);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) headers['x-vault-token'] = token;
    if (options.namespace) headers['x-vault-namespace'] = options.namespace;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let answer: { status: number; body: unknown };
    try {
      answer = await transport(method, url, headers, body === undefined ? undefined : JSON.stringify(body), timeoutMs);
    } catch (error) {
      // The code says why (ECONNREFUSED, SELF_SIGNED_CERT_IN_CHAIN, ...); fetch keeps it on the cause.
      const code = ((error as { cause?: { code?: unknown } }).cause?.code ?? (error as { code?: unknown }).code) as
        string | undefined;
      const timedOut = error instanceof Error && error.name === 'TimeoutError';
      const why = timedOut ? 'timed out' : `no answer${typeof code === 'string' ? ` (${code})` : ''}`;
      throw new VaultError('VaultUnreachable', `${method} /v1/${path}: ${why} from ${base.origin}`, 0);
    }
    if (answer.status >= 400) throw vaultErrorOf(answer.status, answer.body, `${method} /v1/${path}`);
    return answer.body;
  };
  const auth = new VaultAuth(options.credentials, raw, options.now, options.onToken);
  const call = async (method: string, path: string, body?: unknown, query?: string): Promise<unknown> => {
    try {
      return await raw(method, path, body, await auth.token(), query);
    } catch (error) {
      if (error instanceof VaultError && error.status === 403) auth.refused();
      throw error;
    }
  };

  return {
    async kvGet(mount, path, version) {
      const query = version === undefined ? '' : `?version=${version}`;
      const answer = (await call('GET', `${mount}/data/${path}`, undefined, query)) as { data?: Partial<KvSecret> };
      return { data: answer.data?.data ?? {}, metadata: answer.data?.metadata ?? {} };
    },
    async read(path) {
      const answer = (await call('GET', path)) as Partial<VaultSecret> | undefined;
      return {
        data: answer?.data ?? null,
        lease_id: typeof answer?.lease_id === 'string' ? answer.lease_id : '',
        lease_duration: typeof answer?.lease_duration === 'number' ? answer.lease_duration : 0,
        renewable: answer?.renewable === true,
      };
    },
    async renewLease(leaseId, incrementSeconds) {
      const answer = (await call('PUT', 'sys/leases/renew', { lease_id: leaseId, increment: incrementSeconds })) as
        { lease_duration?: unknown; renewable?: unknown } | undefined;
      return {
        lease_duration: typeof answer?.lease_duration === 'number' ? answer.lease_duration : 0,
        renewable: answer?.renewable === true,
      };
    },
    async revokeLease(leaseId) {
      await call('PUT', 'sys/leases/revoke', { lease_id: leaseId });
    },
  };
}

import { createHash } from 'node:crypto';
import type { AwsCallIdentity } from './aws-call-identity.js';
import type { SecretStoreError } from './secrets-manager-gateway.js';
import { createStsCaller, type AssumedRole, type AwsKeys, type StsCaller } from './sts-client.js';

/** The session name AssumeRole gets when the step names none (AWS shows it in CloudTrail). */
export const defaultSessionName = 'credflow';

export interface AwsIdentityOptions {
  /** Endpoint override for STS (the embedded local endpoint, which also answers AssumeRole). */
  endpoint?: string | undefined;
  defaultRegion?: string | undefined;
  /** The agent's configured credentials; otherwise the SDK's default chain is the base identity. */
  defaultCredentials?: AwsKeys | undefined;
  /** DurationSeconds asked of AssumeRole; default: none, so AWS's default (1 hour) applies. */
  durationSeconds?: number | undefined;
  /** Assumed roles kept at once (default 256); the least recently used goes first. */
  maxRoles?: number | undefined;
  now?: () => number;
  /** Tests and the lead may pass another STS caller; default: the real SDK's. */
  sts?: StsCaller;
}

export type IdentityAnswer =
  /** `expiresAt` (epoch ms): when an assumed role's credentials expire; undefined without a role. */
  | { ok: true; credentials: AwsKeys | undefined; expiresAt?: number | undefined }
  | { ok: false; error: SecretStoreError };

export interface AwsIdentity {
  /**
   * The credentials one AWS call is made with: the role's temporary credentials when `roleArn` is
   * given (assumed with the call's own credentials, else the agent's, else the default chain), else
   * the call's own credentials (undefined: the store's client uses the agent's).
   */
  credentialsFor(call: AwsCallIdentity): Promise<IdentityAnswer>;
  /** Assumed roles held now (credflow_assumed_roles). */
  readonly size: number;
  close(): void;
}

interface Entry {
  value?: AssumedRole;
  /** When `value` should be replaced: shortly before it expires. */
  refreshAt: number;
  pending?: Promise<AssumedRole>;
}

/** The margin before expiry: 5 minutes, or half the credentials' lifetime when that is shorter. */
const refreshMarginMs = (lifetimeMs: number): number => Math.min(5 * 60_000, Math.max(0, lifetimeMs) / 2);

/**
 * The one place AWS bridge calls get their identity. Temporary credentials are cached per role,
 * external id, session name and base identity until shortly before they expire; concurrent calls
 * for the same key share one AssumeRole (single-flight); failures are not cached.
 */
export function createAwsIdentity(options: AwsIdentityOptions = {}): AwsIdentity {
  const sts = options.sts ?? createStsCaller({ endpoint: options.endpoint });
  const now = options.now ?? Date.now;
  const maxRoles = options.maxRoles ?? 256;
  const cache = new Map<string, Entry>();
  const hash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');
  let defaultKey: string | undefined;

  const assume = (call: AwsCallIdentity & { roleArn: string }): Promise<AssumedRole> => {
    const base = call.credentials ?? options.defaultCredentials;
    // Hashed from its fields: the SDK adds properties to a credentials object it was given.
    const keyOf = (keys: AwsKeys) => hash([keys.accessKeyId, keys.secretAccessKey, keys.sessionToken ?? null]);
    const baseKey = !base
      ? 'default-chain'
      : base === options.defaultCredentials
        ? (defaultKey ??= keyOf(base))
        : keyOf(base);
    const sessionName = call.sessionName ?? defaultSessionName;
    const key = hash([call.roleArn, call.externalId ?? null, sessionName, baseKey]);
    const entry = cache.get(key);
    if (entry) {
      cache.delete(key);
      cache.set(key, entry);
      if (entry.value && now() < entry.refreshAt) return Promise.resolve(entry.value);
      if (entry.pending) return entry.pending;
    }
    const next: Entry = { refreshAt: 0 };
    next.pending = sts
      .assumeRole({
        region:
          call.region ??
          process.env.AWS_REGION ??
          process.env.AWS_DEFAULT_REGION ??
          options.defaultRegion ??
          'us-east-1',
        base,
        baseKey,
        roleArn: call.roleArn,
        externalId: call.externalId,
        sessionName,
        durationSeconds: options.durationSeconds,
      })
      .then(
        (value) => {
          const obtained = now();
          next.value = value;
          next.refreshAt = value.expiration - refreshMarginMs(value.expiration - obtained);
          delete next.pending;
          return value;
        },
        (error: unknown) => {
          if (cache.get(key) === next) cache.delete(key);
          throw error;
        },
      );
    cache.set(key, next);
    if (cache.size > maxRoles) cache.delete(cache.keys().next().value as string);
    return next.pending;
  };

  return {
    async credentialsFor(call) {
      if (call.roleArn === undefined) return { ok: true, credentials: call.credentials };
      try {
        const { credentials, expiration } = await assume({ ...call, roleArn: call.roleArn });
        return { ok: true, credentials, expiresAt: expiration };
      } catch (error) {
        const known = error as Partial<SecretStoreError>;
        return {
          ok: false,
          error:
            typeof known.name === 'string' && typeof known.message === 'string'
              ? { name: known.name, message: known.message }
              : { name: 'Error', message: `AssumeRole of ${call.roleArn} failed` },
        };
      }
    },
    get size() {
      return cache.size;
    },
    close() {
      cache.clear();
      sts.close();
    },
  };
}

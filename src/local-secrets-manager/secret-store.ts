// Over 250 lines on purpose: the store's versions, staging labels and bounds form one invariant
// (AWSCURRENT/AWSPREVIOUS move together, within the byte and count limits).
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsServiceError, secretNotFound } from './aws-service-error.js';
import { copyValue, sameValue } from './secret-value.js';
import type { SecretValue } from './secret-value.js';

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPREVIOUS = 'AWSPREVIOUS';

export interface SecretVersion {
  readonly versionId: string;
  readonly value: SecretValue;
  readonly createdDate: number;
  /** Staging labels; a label is on at most one version of a secret. */
  readonly stages: Set<string>;
}

export interface StoredSecret {
  readonly name: string;
  readonly arn: string;
  readonly createdDate: number;
  description: string | undefined;
  lastChangedDate: number;
  lastAccessedDate: number | undefined;
  /** In creation order. */
  readonly versions: Map<string, SecretVersion>;
  /** Rotation metadata DescribeSecret reports; this store never rotates (the tests' double sets it). */
  rotation: SecretRotation | undefined;
}

/** What DescribeSecret says of a secret's rotation; times in epoch milliseconds. */
export interface SecretRotation {
  enabled: boolean;
  lastRotatedDate?: number;
  nextRotationDate?: number;
}

const DAY_MS = 86_400_000;

/** What the store holds at most; past a bound a call fails with LimitExceededException and changes nothing. */
export interface StoreLimits {
  /** Secrets held (a store that can schedule deletions counts those too, until purged). */
  readonly maxSecrets: number;
  /** Versions kept per secret; versions without a label are dropped first, oldest first. */
  readonly maxVersionsPerSecret: number;
  /** Staging labels attached across all versions of one secret (AWS's own quota is 20). */
  readonly maxLabelsPerSecret: number;
}

export const defaultStoreLimits: StoreLimits = { maxSecrets: 100, maxVersionsPerSecret: 5, maxLabelsPerSecret: 20 };

export interface SecretStoreOptions {
  /** Used in ARNs. */
  region: string;
  now?: () => number;
  limits?: Partial<StoreLimits>;
}

/**
 * The in-memory, versioned secret store with the service's staging-label rules, as far as the
 * operations the demo serves need them (create, read, add a version). Times are epoch
 * milliseconds. It never logs, and no message it produces contains a secret value; a value dropped
 * with its version is gone. Its internals are protected so that a store with more operations (the
 * tests' double) can extend it.
 */
export class SecretStore {
  protected readonly secrets = new Map<string, StoredSecret>();
  protected readonly now: () => number;
  protected readonly limits: StoreLimits;
  private readonly region: string;

  constructor(options: SecretStoreOptions) {
    this.region = options.region;
    this.now = options.now ?? Date.now;
    this.limits = { ...defaultStoreLimits, ...options.limits };
  }

  create(input: { name: string; value?: SecretValue; description?: string; token?: string }): {
    secret: StoredSecret;
    version: SecretVersion | undefined;
  } {
    const existing = this.secrets.get(input.name);
    if (existing) {
      // An SDK retry of a create that did succeed carries the same token and value.
      const retried = input.token === undefined ? undefined : existing.versions.get(input.token);
      if (retried && input.value && sameValue(retried.value, input.value)) {
        return { secret: existing, version: retried };
      }
      throw new AwsServiceError(
        'ResourceExistsException',
        `The operation failed because the secret ${input.name} already exists.`,
      );
    }
    if (this.secrets.size >= this.limits.maxSecrets) {
      throw limitExceeded(
        `You have exceeded the maximum number of secrets (${this.limits.maxSecrets}) this endpoint holds.`,
      );
    }
    const now = this.now();
    const secret: StoredSecret = {
      name: input.name,
      arn: secretArn(this.region, input.name),
      createdDate: now,
      description: input.description,
      lastChangedDate: now,
      lastAccessedDate: undefined,
      versions: new Map(),
      rotation: undefined,
    };
    this.secrets.set(secret.name, secret);
    try {
      const version = input.value ? this.addVersion(secret, input.value, [AWSCURRENT], input.token) : undefined;
      return { secret, version };
    } catch (error) {
      this.secrets.delete(secret.name);
      throw error;
    }
  }

  getValue(
    secretId: string,
    select: { versionId?: string; versionStage?: string },
  ): {
    secret: StoredSecret;
    version: SecretVersion;
  } {
    const secret = this.live(secretId);
    const { versionId, versionStage } = select;
    const version =
      versionId === undefined ? this.holderOf(secret, versionStage ?? AWSCURRENT) : secret.versions.get(versionId);
    // With both given, the version must carry the stage.
    if (!version || (versionStage !== undefined && !version.stages.has(versionStage))) {
      const missing =
        versionId === undefined ? `staging label: ${versionStage ?? AWSCURRENT}` : `VersionId: ${versionId}`;
      throw new AwsServiceError(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for ${missing}`,
      );
    }
    secret.lastAccessedDate = Math.floor(this.now() / DAY_MS) * DAY_MS;
    return { secret, version };
  }

  /** Adds a version; `stages` defaults to AWSCURRENT, and the first version always gets AWSCURRENT. */
  putValue(
    secretId: string,
    value: SecretValue,
    stages: readonly string[] = [AWSCURRENT],
    token?: string,
  ): {
    secret: StoredSecret;
    version: SecretVersion;
  } {
    const secret = this.live(secretId);
    const existing = token === undefined ? undefined : secret.versions.get(token);
    if (existing) {
      if (sameValue(existing.value, value)) return { secret, version: existing };
      throw new AwsServiceError(
        'ResourceExistsException',
        `You can't modify an existing version, you can only create a new version. VersionId: ${existing.versionId}`,
      );
    }
    return { secret, version: this.addVersion(secret, value, stages, token) };
  }

  /** The secret named `secretId` (its name or ARN). */
  find(secretId: string): StoredSecret {
    const secret = this.secrets.get(secretId) ?? [...this.secrets.values()].find((s) => s.arn === secretId);
    if (!secret) throw secretNotFound();
    return secret;
  }

  /** When `secret` was scheduled for deletion: never here (a store that can delete says). */
  deletedDateOf(_secret: StoredSecret): number | undefined {
    return undefined;
  }

  /** The secret an operation may read or change; a store that schedules deletions refuses those here. */
  protected live(secretId: string): StoredSecret {
    return this.find(secretId);
  }

  /**
   * Adds a version and moves the labels, then drops unlabelled versions past the cap. When the
   * secret would still hold too many versions or labels, everything is put back as it was.
   */
  protected addVersion(
    secret: StoredSecret,
    value: SecretValue,
    stages: readonly string[],
    token?: string,
  ): SecretVersion {
    const before = new Map([...secret.versions].map(([id, v]) => [id, new Set(v.stages)]));
    const version: SecretVersion = {
      versionId: token ?? randomUUID(),
      value: copyValue(value),
      createdDate: this.now(),
      stages: new Set(),
    };
    secret.versions.set(version.versionId, version);
    const labels = this.holderOf(secret, AWSCURRENT) ? stages : [AWSCURRENT, ...stages];
    for (const stage of new Set(labels)) this.attach(secret, stage, version.versionId);
    const tooMany =
      labelCount(secret) > this.limits.maxLabelsPerSecret
        ? `A secret can have at most ${this.limits.maxLabelsPerSecret} staging labels attached across its versions.`
        : this.labelledCount(secret) > this.limits.maxVersionsPerSecret
          ? `A secret keeps at most ${this.limits.maxVersionsPerSecret} versions here, and all of them have staging labels; ` +
            'remove a label (UpdateSecretVersionStage) before adding a version.'
          : undefined;
    if (tooMany !== undefined) {
      secret.versions.delete(version.versionId);
      for (const [id, labelsBefore] of before) {
        const kept = secret.versions.get(id)!.stages;
        kept.clear();
        for (const label of labelsBefore) kept.add(label);
      }
      throw limitExceeded(tooMany);
    }
    this.pruneUnlabeled(secret);
    secret.lastChangedDate = version.createdDate;
    return version;
  }

  /** Puts `stage` on `versionId`; moving AWSCURRENT hands AWSPREVIOUS to the version that had it. */
  protected attach(secret: StoredSecret, stage: string, versionId: string): void {
    const target = secret.versions.get(versionId);
    const holder = this.holderOf(secret, stage);
    if (!target || holder === target) return;
    holder?.stages.delete(stage);
    target.stages.add(stage);
    if (stage === AWSCURRENT && holder) {
      this.holderOf(secret, AWSPREVIOUS)?.stages.delete(AWSPREVIOUS);
      holder.stages.add(AWSPREVIOUS);
    }
  }

  protected holderOf(secret: StoredSecret, stage: string): SecretVersion | undefined {
    for (const version of secret.versions.values()) if (version.stages.has(stage)) return version;
    return undefined;
  }

  private labelledCount(secret: StoredSecret): number {
    let count = 0;
    for (const version of secret.versions.values()) if (version.stages.size > 0) count += 1;
    return count;
  }

  /** Drops the oldest versions without a label until the secret is within its version cap. */
  private pruneUnlabeled(secret: StoredSecret): void {
    for (const version of [...secret.versions.values()]) {
      if (secret.versions.size <= this.limits.maxVersionsPerSecret) return;
      if (version.stages.size === 0) secret.versions.delete(version.versionId);
    }
  }
}

/** Staging labels attached across all versions of `secret`. */
export function labelCount(secret: StoredSecret): number {
  let count = 0;
  for (const version of secret.versions.values()) count += version.stages.size;
  return count;
}

export function limitExceeded(message: string): AwsServiceError {
  return new AwsServiceError('LimitExceededException', message);
}

const ARN_SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The service appends a hyphen and six random characters to the name. */
function secretArn(region: string, name: string): string {
  const suffix = [...randomBytes(6)].map((byte) => ARN_SUFFIX_ALPHABET[byte % ARN_SUFFIX_ALPHABET.length]).join('');
  return `arn:aws:secretsmanager:${region}:000000000000:secret:${name}-${suffix}`;
}

import { randomBytes, randomUUID } from 'node:crypto';
import { AwsServiceError, invalidParameter, invalidRequest, secretNotFound } from './aws-service-error.js';
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
  deletedDate: number | undefined;
  deletionDate: number | undefined;
  /** In creation order. */
  readonly versions: Map<string, SecretVersion>;
}

const DAY_MS = 86_400_000;

/** What the store holds at most; past a bound a call fails with LimitExceededException and changes nothing. */
export interface StoreLimits {
  /** Secrets, those scheduled for deletion included (they keep their values until purged). */
  readonly maxSecrets: number;
  /** Versions kept per secret; versions without a label are dropped first, oldest first. */
  readonly maxVersionsPerSecret: number;
  /** Staging labels attached across all versions of one secret (AWS's own quota is 20). */
  readonly maxLabelsPerSecret: number;
}

export const defaultStoreLimits: StoreLimits = { maxSecrets: 100, maxVersionsPerSecret: 5, maxLabelsPerSecret: 20 };

export interface StoreStats {
  secrets: number;
  versions: number;
  /** Bytes of all values held (UTF-8 for strings). */
  valueBytes: number;
}

/**
 * The in-memory, versioned secret store with the service's staging-label rules. Times are epoch
 * milliseconds. It never logs, and no message it produces contains a secret value. It holds only
 * what its live and not yet purged secrets hold: a value dropped with its version or secret is gone.
 */
export class SecretStore {
  private readonly secrets = new Map<string, StoredSecret>();
  private readonly region: string;
  private readonly now: () => number;
  private readonly limits: StoreLimits;
  private readonly onValueStored: ((text: string) => void) | undefined;

  constructor(options: {
    region: string;
    now?: () => number;
    limits?: Partial<StoreLimits>;
    /** Told each value stored (SecretBinary as UTF-8 text); the store itself keeps no history. */
    onValueStored?: (text: string) => void;
  }) {
    this.region = options.region;
    this.now = options.now ?? Date.now;
    this.limits = { ...defaultStoreLimits, ...options.limits };
    this.onValueStored = options.onValueStored;
  }

  /** SecretString values and SecretBinary bytes (as UTF-8 text) of the versions held now. */
  heldValues(): string[] {
    return [...this.secrets.values()].flatMap((secret) => [...secret.versions.values()].map((v) => textOf(v.value)));
  }

  stats(): StoreStats {
    let versions = 0;
    let valueBytes = 0;
    for (const secret of this.secrets.values()) {
      for (const version of secret.versions.values()) {
        versions += 1;
        valueBytes += byteLength(version.value);
      }
    }
    return { secrets: this.secrets.size, versions, valueBytes };
  }

  create(input: { name: string; value?: SecretValue; description?: string; token?: string }): {
    secret: StoredSecret;
    version: SecretVersion | undefined;
  } {
    const existing = this.secrets.get(input.name);
    if (existing) {
      if (existing.deletedDate !== undefined) {
        throw invalidRequest(
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
        );
      }
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
    this.purgeDeleted();
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
      deletedDate: undefined,
      deletionDate: undefined,
      versions: new Map(),
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

  /** Moves `stage` to `moveTo` and/or removes it from `removeFrom`, as UpdateSecretVersionStage does. */
  updateStage(secretId: string, stage: string, moveTo?: string, removeFrom?: string): StoredSecret {
    const secret = this.live(secretId);
    const holder = this.holderOf(secret, stage);
    if (removeFrom !== undefined) {
      const from = secret.versions.get(removeFrom);
      if (!from) throw invalidParameter(`Not a valid version: ${removeFrom}`);
      if (!from.stages.has(stage)) {
        throw invalidParameter(`The staging label ${stage} is not attached to version ${removeFrom}.`);
      }
    }
    if (moveTo !== undefined) {
      if (!secret.versions.has(moveTo)) throw invalidParameter(`Not a valid version: ${moveTo}`);
      if (holder && holder.versionId !== moveTo && removeFrom !== holder.versionId) {
        throw invalidParameter(
          `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to ` +
            `version ${holder.versionId}, so you must explicitly reference that version in RemoveFromVersionId.`,
        );
      }
      if (!holder && labelCount(secret) >= this.limits.maxLabelsPerSecret) {
        throw limitExceeded(
          `A secret can have at most ${this.limits.maxLabelsPerSecret} staging labels attached across its versions.`,
        );
      }
      this.attach(secret, stage, moveTo);
    } else if (removeFrom !== undefined) {
      if (stage === AWSCURRENT) {
        throw invalidParameter(
          `You can only move staging label ${AWSCURRENT} to a different secret version. ` +
            "It can't be completely removed.",
        );
      }
      holder?.stages.delete(stage);
    }
    secret.lastChangedDate = this.now();
    return secret;
  }

  /** Any secret, including one scheduled for deletion. */
  find(secretId: string): StoredSecret {
    this.purgeDeleted();
    const secret = this.secrets.get(secretId) ?? [...this.secrets.values()].find((s) => s.arn === secretId);
    if (!secret) throw secretNotFound();
    return secret;
  }

  /** All secrets in creation order. */
  list(): StoredSecret[] {
    this.purgeDeleted();
    return [...this.secrets.values()];
  }

  /** Schedules deletion after `recoveryWindowInDays`, or removes the secret at once when `force`. */
  delete(
    secretId: string,
    options: { force: boolean; recoveryWindowInDays: number },
  ): {
    secret: StoredSecret;
    deletionDate: number;
  } {
    const secret = this.find(secretId);
    const now = this.now();
    if (options.force) {
      this.secrets.delete(secret.name);
      return { secret, deletionDate: now };
    }
    if (secret.deletedDate !== undefined) {
      throw invalidRequest(
        "You can't perform this operation on the secret because it was already scheduled for deletion.",
      );
    }
    secret.deletedDate = now;
    secret.deletionDate = now + options.recoveryWindowInDays * DAY_MS;
    secret.lastChangedDate = now;
    return { secret, deletionDate: secret.deletionDate };
  }

  private live(secretId: string): StoredSecret {
    const secret = this.find(secretId);
    if (secret.deletedDate !== undefined) {
      throw invalidRequest("You can't perform this operation on the secret because it was marked for deletion.");
    }
    return secret;
  }

  /**
   * Adds a version and moves the labels, then drops unlabelled versions past the cap. When the
   * secret would still hold too many versions or labels, everything is put back as it was.
   */
  private addVersion(
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
    this.onValueStored?.(textOf(version.value));
    return version;
  }

  /** Puts `stage` on `versionId`; moving AWSCURRENT hands AWSPREVIOUS to the version that had it. */
  private attach(secret: StoredSecret, stage: string, versionId: string): void {
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

  private holderOf(secret: StoredSecret, stage: string): SecretVersion | undefined {
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

  /** Secrets whose recovery window has passed are gone, values and all, as the service deletes them. */
  private purgeDeleted(): void {
    const now = this.now();
    for (const secret of [...this.secrets.values()]) {
      if (secret.deletionDate !== undefined && secret.deletionDate <= now) this.secrets.delete(secret.name);
    }
  }
}

function labelCount(secret: StoredSecret): number {
  let count = 0;
  for (const version of secret.versions.values()) count += version.stages.size;
  return count;
}

function textOf(value: SecretValue): string {
  return value.SecretBinary !== undefined
    ? Buffer.from(value.SecretBinary).toString('utf8')
    : (value.SecretString ?? '');
}

function byteLength(value: SecretValue): number {
  return value.SecretBinary !== undefined
    ? value.SecretBinary.byteLength
    : Buffer.byteLength(value.SecretString ?? '', 'utf8');
}

function limitExceeded(message: string): AwsServiceError {
  return new AwsServiceError('LimitExceededException', message);
}

const ARN_SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The service appends a hyphen and six random characters to the name. */
function secretArn(region: string, name: string): string {
  const suffix = [...randomBytes(6)].map((byte) => ARN_SUFFIX_ALPHABET[byte % ARN_SUFFIX_ALPHABET.length]).join('');
  return `arn:aws:secretsmanager:${region}:000000000000:secret:${name}-${suffix}`;
}

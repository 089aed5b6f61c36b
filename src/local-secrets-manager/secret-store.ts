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

// The service deletes versions without a label once a secret has more than this many.
const MAX_VERSIONS = 100;
const DAY_MS = 86_400_000;

/**
 * The in-memory, versioned secret store with the service's staging-label rules. Times are epoch
 * milliseconds. It never logs, and no message it produces contains a secret value.
 */
export class SecretStore {
  private readonly secrets = new Map<string, StoredSecret>();
  /** Every value ever stored, deleted versions included, for tests that search output for leaks. */
  private readonly everStored = new Set<string>();
  private readonly region: string;
  private readonly now: () => number;

  constructor(options: { region: string; now?: () => number }) {
    this.region = options.region;
    this.now = options.now ?? Date.now;
  }

  /** SecretString values and SecretBinary bytes (as UTF-8 text) of every version ever stored. */
  storedValues(): string[] {
    return [...this.everStored];
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
    const version = input.value ? this.addVersion(secret, input.value, [AWSCURRENT], input.token) : undefined;
    return { secret, version };
  }

  getValue(secretId: string, select: { versionId?: string; versionStage?: string }): {
    secret: StoredSecret;
    version: SecretVersion;
  } {
    const secret = this.live(secretId);
    const { versionId, versionStage } = select;
    const version =
      versionId === undefined
        ? this.holderOf(secret, versionStage ?? AWSCURRENT)
        : secret.versions.get(versionId);
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
  putValue(secretId: string, value: SecretValue, stages: readonly string[] = [AWSCURRENT], token?: string): {
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
    const secret = this.secrets.get(secretId) ?? [...this.secrets.values()].find((s) => s.arn === secretId);
    if (!secret) throw secretNotFound();
    return secret;
  }

  /** All secrets in creation order. */
  list(): StoredSecret[] {
    return [...this.secrets.values()];
  }

  /** Schedules deletion after `recoveryWindowInDays`, or removes the secret at once when `force`. */
  delete(secretId: string, options: { force: boolean; recoveryWindowInDays: number }): {
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

  private addVersion(
    secret: StoredSecret,
    value: SecretValue,
    stages: readonly string[],
    token?: string,
  ): SecretVersion {
    const version: SecretVersion = {
      versionId: token ?? randomUUID(),
      value: copyValue(value),
      createdDate: this.now(),
      stages: new Set(),
    };
    secret.versions.set(version.versionId, version);
    if (value.SecretString !== undefined) this.everStored.add(value.SecretString);
    if (value.SecretBinary !== undefined) this.everStored.add(Buffer.from(value.SecretBinary).toString('utf8'));
    const labels = this.holderOf(secret, AWSCURRENT) ? stages : [AWSCURRENT, ...stages];
    for (const stage of new Set(labels)) this.attach(secret, stage, version.versionId);
    this.pruneUnlabeled(secret);
    secret.lastChangedDate = version.createdDate;
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

  private pruneUnlabeled(secret: StoredSecret): void {
    for (const version of secret.versions.values()) {
      if (secret.versions.size <= MAX_VERSIONS) return;
      if (version.stages.size === 0) secret.versions.delete(version.versionId);
    }
  }
}

const ARN_SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The service appends a hyphen and six random characters to the name. */
function secretArn(region: string, name: string): string {
  const suffix = [...randomBytes(6)].map((byte) => ARN_SUFFIX_ALPHABET[byte % ARN_SUFFIX_ALPHABET.length]).join('');
  return `arn:aws:secretsmanager:${region}:000000000000:secret:${name}-${suffix}`;
}

import {
  AWSCURRENT,
  invalidParameter,
  invalidRequest,
  labelCount,
  limitExceeded,
  SecretStore,
  type SecretStoreOptions,
  type SecretValue,
  type SecretVersion,
  type StoredSecret,
} from '../../../src/local-secrets-manager/index.js';

const DAY_MS = 86_400_000;

export interface StoreStats {
  secrets: number;
  versions: number;
  /** Bytes of all values held (UTF-8 for strings). */
  valueBytes: number;
}

interface Deletion {
  readonly deletedDate: number;
  readonly deletionDate: number;
}

/**
 * The shipped store plus what only the tests use: moving staging labels, listing, scheduled and
 * forced deletion, and a look at what it holds. A secret scheduled for deletion keeps its values
 * (and counts against maxSecrets) until its recovery window has passed; then it is gone, values and all.
 */
export class TestSecretStore extends SecretStore {
  private readonly deletions = new Map<StoredSecret, Deletion>();
  private readonly onValueStored: ((text: string) => void) | undefined;

  constructor(
    options: SecretStoreOptions & {
      /** Told each value stored (SecretBinary as UTF-8 text); the store itself keeps no history. */
      onValueStored?: (text: string) => void;
    },
  ) {
    super(options);
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

  /** When `secret` was scheduled for deletion, if it was. */
  override deletedDateOf(secret: StoredSecret): number | undefined {
    return this.deletions.get(secret)?.deletedDate;
  }

  override create(input: { name: string; value?: SecretValue; description?: string; token?: string }): {
    secret: StoredSecret;
    version: SecretVersion | undefined;
  } {
    const existing = this.secrets.get(input.name);
    if (existing && this.deletions.has(existing)) {
      throw invalidRequest(
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
      );
    }
    if (!existing) this.purgeDeleted();
    return super.create(input);
  }

  /** Any secret, including one scheduled for deletion. */
  override find(secretId: string): StoredSecret {
    this.purgeDeleted();
    return super.find(secretId);
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
      this.remove(secret);
      return { secret, deletionDate: now };
    }
    if (this.deletions.has(secret)) {
      throw invalidRequest(
        "You can't perform this operation on the secret because it was already scheduled for deletion.",
      );
    }
    const deletion = { deletedDate: now, deletionDate: now + options.recoveryWindowInDays * DAY_MS };
    this.deletions.set(secret, deletion);
    secret.lastChangedDate = now;
    return { secret, deletionDate: deletion.deletionDate };
  }

  protected override live(secretId: string): StoredSecret {
    const secret = this.find(secretId);
    if (this.deletions.has(secret)) {
      throw invalidRequest("You can't perform this operation on the secret because it was marked for deletion.");
    }
    return secret;
  }

  protected override addVersion(
    secret: StoredSecret,
    value: SecretValue,
    stages: readonly string[],
    token?: string,
  ): SecretVersion {
    const version = super.addVersion(secret, value, stages, token);
    this.onValueStored?.(textOf(version.value));
    return version;
  }

  /** Secrets whose recovery window has passed are gone, values and all, as the service deletes them. */
  private purgeDeleted(): void {
    const now = this.now();
    for (const [secret, { deletionDate }] of [...this.deletions]) {
      if (deletionDate <= now) this.remove(secret);
    }
  }

  private remove(secret: StoredSecret): void {
    this.secrets.delete(secret.name);
    this.deletions.delete(secret);
  }
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

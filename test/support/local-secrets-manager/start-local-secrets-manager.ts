import { setTimeout as sleep } from 'node:timers/promises';
import {
  operations,
  ParameterStore,
  Params,
  RoleRegistry,
  startLocalSecretsManager as startShipped,
  wireValue,
  type LocalSecretsManager as ShippedEndpoint,
  type LocalSecretsManagerOptions as ShippedOptions,
  type SecretInput,
  type SecretRotation,
  type LocalRole,
  type Session,
} from '../../../src/local-secrets-manager/index.js';
import { extraOperations } from './extra-operations.js';
import { FaultInjector, type Faults } from './faults.js';
import { RequestLog, type RecordedRequest } from './request-log.js';
import { TestSecretStore, type StoreStats } from './test-secret-store.js';

/** The shipped endpoint as the tests drive it: more operations, faults, a request log and a look inside. */
export interface LocalSecretsManager extends ShippedEndpoint {
  /** Adds a version in process; `stages` defaults to ["AWSCURRENT"]. */
  putSecretValue(secretId: string, value: SecretInput, stages?: string[]): { VersionId: string };
  /** Sets what DescribeSecret reports of the secret's rotation (this endpoint never rotates by itself). */
  setRotation(secretId: string, rotation: SecretRotation | undefined): void;
  /** Requests received over HTTP, in order. */
  readonly requests: ReadonlyArray<RecordedRequest>;
  countRequests(operation?: string): number;
  resetRequests(): void;
  /** Every SecretString, and every SecretBinary as UTF-8 text, held now (deleted or dropped versions are gone). */
  heldValues(): string[];
  /** How much the store holds. */
  stats(): StoreStats;
  /** Replaces the faults applied to matching subsequent requests until cleared. */
  setFaults(faults: Faults): void;
  clearFaults(): void;
  /** Defines (or replaces) a role STS AssumeRole hands out; answers its ARN. */
  defineRole(role: LocalRole): string;
  /**
   * The temporary credentials AssumeRole minted so far, oldest first: for a test that must sign as
   * the role itself (an RDS IAM token is signed locally, so the test recomputes it with these keys).
   */
  readonly sessions: ReadonlyArray<Session>;
}

export interface LocalSecretsManagerOptions extends Omit<ShippedOptions, 'extend' | 'roles'> {
  /**
   * Told each secret value stored (secrets, and SecureString parameters: String and StringList
   * parameters are not secrets), and each temporary key and session token minted, e.g. for a test's
   * leak search; the endpoint keeps no history itself.
   */
  onValueStored?: (text: string) => void;
}

/**
 * The tests' Secrets Manager double: the endpoint the embedded demo ships, extended (not copied)
 * with the operations only tests call (ListSecrets, DescribeSecret, UpdateSecretVersionStage,
 * DeleteSecret), fault injection, a log of the requests it answered, in-process inspection, and
 * roles for STS AssumeRole (see RoleRegistry).
 */
export async function startLocalSecretsManager(options: LocalSecretsManagerOptions = {}): Promise<LocalSecretsManager> {
  const { onValueStored, ...shippedOptions } = options;
  const store = new TestSecretStore({
    region: options.region ?? 'us-east-1',
    ...(options.limits ? { limits: options.limits } : {}),
    ...(onValueStored ? { onValueStored } : {}),
  });
  const parameters = new ParameterStore({
    region: options.region ?? 'us-east-1',
    ...(onValueStored
      ? { onValueStored: (p) => (p.type === 'SecureString' ? onValueStored(p.value) : undefined) }
      : {}),
  });
  const faults = new FaultInjector();
  const log = new RequestLog();
  const sessions: Session[] = [];
  // DurationSeconds down to 1 second (AWS's minimum is 900), so tests can see sessions expire.
  const roles = new RoleRegistry({
    minDurationSeconds: 1,
    onIssued: (session) => {
      sessions.push(session);
      onValueStored?.(session.secretAccessKey);
      onValueStored?.(session.sessionToken);
    },
  });
  const endpoint = await startShipped({
    ...shippedOptions,
    roles,
    extend: {
      store,
      parameters,
      operations: Object.fromEntries(
        Object.entries(extraOperations).map(([name, operation]) => [
          name,
          (params: Params) => operation(params, store),
        ]),
      ),
      async intercept(operation, signal) {
        const latencyMs = faults.latencyFor(operation);
        if (latencyMs > 0) await sleep(latencyMs, undefined, { signal });
        const fault = faults.take(operation);
        if (fault.kind === 'down') return { drop: true };
        return fault.kind === 'error' ? { error: fault.error } : undefined;
      },
      onAnswer: (call, status, errorType) => log.record(call, status, errorType),
    },
  });
  return {
    url: endpoint.url,
    port: endpoint.port,
    credentials: endpoint.credentials,
    createSecret: (name, value, opts) => endpoint.createSecret(name, value, opts),
    putParameter: (name, value, opts) => endpoint.putParameter(name, value, opts),
    close: () => endpoint.close(),
    putSecretValue(secretId, value, stages) {
      const out = operations.PutSecretValue(
        new Params({ SecretId: secretId, VersionStages: stages, ...wireValue(value) }),
        store,
      );
      return { VersionId: out.VersionId };
    },
    setRotation(secretId, rotation) {
      store.find(secretId).rotation = rotation;
    },
    get requests() {
      return log.all;
    },
    countRequests: (operation) => log.count(operation),
    resetRequests: () => log.reset(),
    heldValues: () => store.heldValues(),
    stats: () => store.stats(),
    setFaults: (next) => faults.set(next),
    clearFaults: () => faults.clear(),
    defineRole: (role) => roles.define(role),
    sessions,
  };
}

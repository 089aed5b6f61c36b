import { Signer } from '@aws-sdk/rds-signer';
import type { Logger } from 'pino';
import { CredflowError, messageOf } from '../errors.js';
import { SecretMasker } from '../masking/index.js';

export interface RdsIamTokensOptions {
  /** The agent's own AWS credentials; otherwise the SDK's default chain (environment, profile, IRSA, instance metadata). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Region when the integration names none and neither AWS_REGION nor AWS_DEFAULT_REGION is set. */
  defaultRegion?: string | undefined;
  /** How long a token is reused for new connections (CREDFLOW_RDS_IAM_TOKEN_REUSE_SECONDS); AWS honours one for 15 minutes. */
  reuseMs: number;
  /** Learns each token, so that nothing prints it. */
  masker: SecretMasker;
  logger: Logger;
  now?: () => number;
}

/** Where and as whom a connection opens: what a token is signed for. */
export interface RdsIamTarget {
  hostname: string;
  port: number;
  username: string;
  region?: string | undefined;
}

interface Slot {
  token: Promise<string>;
  /** When the token was asked for; it is reused until signedAt + reuseMs. */
  signedAt: number;
  /** The token once signed. */
  value?: string;
  /** The token before this one: still valid for a while, so still masked. */
  previous: string | undefined;
}

/** Targets whose tokens are kept: one per (host, port, user, region), so a handful per integration at most. */
const maxSlots = 256;

/**
 * Signs RDS IAM authentication tokens (a SigV4-presigned `connect` URL, valid 15 minutes) with
 * `@aws-sdk/rds-signer`, for the connections pg opens. A token is reused for `reuseMs`, well inside
 * its life, and signed once for all connections asking at the same time (single flight per target
 * and identity). Signing is local: no AWS call, unless the default chain must fetch credentials.
 */
export class RdsIamTokens {
  private readonly slots = new Map<string, Slot>();
  private readonly now: () => number;
  private readonly signer: (target: RdsIamTarget & { region: string }) => Signer;
  // Which identity signs: the configured access key id (not secret), or the default chain.
  private readonly identity: string;

  constructor(private readonly options: RdsIamTokensOptions) {
    this.now = options.now ?? Date.now;
    this.identity = options.credentials?.accessKeyId ?? 'default-chain';
    const credentials = options.credentials;
    this.signer = (target) => new Signer({ ...target, ...(credentials ? { credentials } : {}) });
  }

  /** A token for `target`: the one signed within the reuse window, or a new one. */
  token(target: RdsIamTarget): Promise<string> {
    const region = this.regionOf(target);
    const key = [target.hostname, target.port, target.username, region, this.identity].join('\u0000');
    const found = this.slots.get(key);
    const now = this.now();
    if (found && now - found.signedAt < this.options.reuseMs) return found.token;
    const slot: Slot = { token: Promise.resolve(''), signedAt: now, previous: found?.value ?? found?.previous };
    slot.token = this.sign({ ...target, region }, key, slot);
    // A refused signing is not kept: the next connection tries again.
    slot.token.catch(() => {
      if (this.slots.get(key) === slot) this.slots.delete(key);
    });
    this.slots.delete(key);
    this.slots.set(key, slot);
    if (this.slots.size > maxSlots) this.evictOldest();
    return slot.token;
  }

  private async sign(target: RdsIamTarget & { region: string }, key: string, slot: Slot): Promise<string> {
    let token: string;
    try {
      token = await this.signer(target).getAuthToken();
    } catch (error) {
      const noCredentials = /credential/i.test(messageOf(error));
      throw new CredflowError(
        'DB_CONNECT_FAILED',
        noCredentials
          ? 'could not sign an RDS IAM token: the agent has no AWS credentials (give it some through the standard AWS chain: environment, AWS_PROFILE, web identity or instance metadata)'
          : `could not sign an RDS IAM token: ${this.options.masker.mask(messageOf(error))}`,
      );
    }
    slot.value = token;
    this.learn(key, token, slot.previous);
    const signedAt = new URL(`https://${token}`).searchParams.get('X-Amz-Date');
    this.options.logger.info(
      {
        event: 'rds_iam.token',
        host: target.hostname,
        port: target.port,
        user: target.username,
        region: target.region,
        signedAt,
        reuseSeconds: Math.round(this.options.reuseMs / 1000),
      },
      'signed an RDS IAM token',
    );
    return token;
  }

  /** Masks the token and its signature (its one secret part), and keeps them masked until the token after the next. */
  private learn(key: string, token: string, previous: string | undefined): void {
    const learner = new SecretMasker(this.options.masker);
    learner.add(token, false);
    const signature = new URL(`https://${token}`).searchParams.get('X-Amz-Signature');
    if (signature) learner.add(signature, false);
    const holder = `rds-iam\u0000${key}`;
    this.options.masker.release(holder);
    this.options.masker.hold(holder, previous ? [...learner.learnt, previous] : learner.learnt);
  }

  private regionOf(target: RdsIamTarget): string {
    const region =
      target.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? this.options.defaultRegion;
    if (region) return region;
    throw new CredflowError(
      'CONNECTION_INVALID',
      'auth "rds-iam" needs an AWS region: set connection.auth.region, or AWS_REGION for the agent',
      { details: { field: 'connection.auth.region' } },
    );
  }

  private evictOldest(): void {
    const [oldest] = this.slots.keys();
    if (oldest === undefined) return;
    this.slots.delete(oldest);
    this.options.masker.release(`rds-iam\u0000${oldest}`);
  }
}

import { Signer } from '@aws-sdk/rds-signer';
import type { Logger } from 'pino';
import { CredflowError, messageOf } from '../errors.js';
import { SecretMasker } from '../masking/index.js';
import type { AwsIdentity } from './aws-identity.js';
import type { AwsKeys } from './sts-client.js';

export interface RdsIamTokensOptions {
  /** The agent's own AWS credentials; otherwise the SDK's default chain (environment, profile, IRSA, instance metadata). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Assumes an integration's `roleArn` (cached and single-flight there); without it, such connections fail. */
  awsIdentity?: AwsIdentity | undefined;
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
  /** A role whose temporary credentials sign the token, instead of the agent's own identity. */
  roleArn?: string | undefined;
  externalId?: string | undefined;
}

type SigningTarget = RdsIamTarget & { region: string };

interface Slot {
  token: Promise<string>;
  /**
   * Until when the token is reused: reuseMs after it was asked for, or sooner when it is signed with
   * temporary credentials that expire first (AWS refuses a token whose credentials have expired).
   */
  reuseUntil: number;
  /** Once signed, what is masked for it: the token, its signature, and a role's temporary keys. */
  learnt?: string[];
  /** What was masked for the token before this one: still valid for a while, so still masked. */
  previous: string[] | undefined;
}

/** How long before its credentials expire a token stops being reused: a minute, or half their remaining life. */
const expiryMarginMs = (remainingMs: number): number => Math.min(60_000, Math.max(0, remainingMs) / 2);

/** Targets whose tokens are kept: one per (host, port, user, region, role), so a handful per integration at most. */
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
  // Which base identity signs: the configured access key id (not secret), or the default chain.
  private readonly identity: string;

  constructor(private readonly options: RdsIamTokensOptions) {
    this.now = options.now ?? Date.now;
    this.identity = options.credentials?.accessKeyId ?? 'default-chain';
  }

  /** A token for `target`: the one signed within the reuse window, or a new one. */
  token(target: RdsIamTarget): Promise<string> {
    const region = this.regionOf(target);
    // The role and external id are part of the key: two integrations with different roles never share a token.
    const key = [
      target.hostname,
      target.port,
      target.username,
      region,
      this.identity,
      target.roleArn ?? '',
      target.externalId ?? '',
    ].join('\u0000');
    const found = this.slots.get(key);
    const now = this.now();
    if (found && now < found.reuseUntil) return found.token;
    const slot: Slot = {
      token: Promise.resolve(''),
      reuseUntil: now + this.options.reuseMs,
      previous: found?.learnt ?? found?.previous,
    };
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

  private async sign(target: SigningTarget, key: string, slot: Slot): Promise<string> {
    const { credentials, expiresAt } = await this.credentialsFor(target);
    if (expiresAt !== undefined)
      slot.reuseUntil = Math.min(slot.reuseUntil, expiresAt - expiryMarginMs(expiresAt - this.now()));
    let token: string;
    try {
      const { hostname, port, username, region } = target;
      token = await new Signer({
        hostname,
        port,
        username,
        region,
        ...(credentials ? { credentials } : {}),
      }).getAuthToken();
    } catch (error) {
      const noCredentials = /credential/i.test(messageOf(error));
      throw new CredflowError(
        'DB_CONNECT_FAILED',
        noCredentials
          ? 'could not sign an RDS IAM token: the agent has no AWS credentials (give it some through the standard AWS chain: environment, AWS_PROFILE, web identity or instance metadata)'
          : `could not sign an RDS IAM token: ${this.options.masker.mask(messageOf(error))}`,
      );
    }
    slot.learnt = this.learn(key, token, credentials, slot.previous);
    const signedAt = new URL(`https://${token}`).searchParams.get('X-Amz-Date');
    this.options.logger.info(
      {
        event: 'rds_iam.token',
        host: target.hostname,
        port: target.port,
        user: target.username,
        region: target.region,
        ...(target.roleArn ? { roleArn: target.roleArn } : {}),
        signedAt,
        reuseSeconds: Math.round(this.options.reuseMs / 1000),
      },
      'signed an RDS IAM token',
    );
    return token;
  }

  /** The role's temporary credentials when the target names one; else the agent's (undefined: the default chain). */
  private async credentialsFor(
    target: SigningTarget,
  ): Promise<{ credentials: AwsKeys | undefined; expiresAt?: number }> {
    if (target.roleArn === undefined) return { credentials: this.options.credentials };
    if (this.options.awsIdentity === undefined)
      throw new CredflowError('INTERNAL', 'auth "rds-iam" with roleArn: the agent has no AWS identity to assume it');
    const answer = await this.options.awsIdentity.credentialsFor({
      roleArn: target.roleArn,
      externalId: target.externalId,
      region: target.region,
    });
    if (answer.ok)
      return { credentials: answer.credentials, ...(answer.expiresAt ? { expiresAt: answer.expiresAt } : {}) };
    // STS's error name (AccessDenied, ExpiredToken...) is kept; its message names no secret, and is masked anyway.
    const { name, message } = answer.error;
    throw new CredflowError(
      'DB_CONNECT_FAILED',
      `could not assume ${target.roleArn} to sign an RDS IAM token: ${name}: ${this.options.masker.mask(message)}`,
      { details: { awsError: name, roleArn: target.roleArn } },
    );
  }

  /**
   * Masks the token, its signature (its one secret part) and a role's temporary keys, and keeps them
   * masked until the token after the next.
   */
  private learn(
    key: string,
    token: string,
    credentials: AwsKeys | undefined,
    previous: string[] | undefined,
  ): string[] {
    const learner = new SecretMasker(this.options.masker);
    learner.add(token, false);
    // A role's temporary keys are the agent's to keep quiet too (its own keys are masked at start).
    if (credentials && credentials !== this.options.credentials) {
      learner.add(credentials.secretAccessKey);
      if (credentials.sessionToken) learner.add(credentials.sessionToken);
    }
    const signature = new URL(`https://${token}`).searchParams.get('X-Amz-Signature');
    if (signature) learner.add(signature, false);
    const holder = `rds-iam\u0000${key}`;
    this.options.masker.release(holder);
    const learnt = [...learner.learnt];
    this.options.masker.hold(holder, previous ? [...learnt, ...previous] : learnt);
    return learnt;
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

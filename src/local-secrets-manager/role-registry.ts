import { accessDenied } from './sts-query.js';
import { LOCAL_ACCOUNT, type AssumeRoleAsk, type RolePolicy, type Session } from './sts-sessions.js';

/** A role the local endpoint knows: who may assume it, with which external id, and what it may read. */
export interface LocalRole {
  /** The role's name; its ARN is `arn:aws:iam::123456789012:role/<name>`. */
  name: string;
  /** Secret names a session of the role may read (GetSecretValue, DescribeSecret); nothing else. */
  secrets: readonly string[];
  /** When set, AssumeRole must pass exactly this ExternalId (the trust policy's sts:ExternalId condition). */
  externalId?: string;
  /** Access key ids allowed to assume it (the trust policy's principals); default: any key the endpoint accepts. */
  trusted?: readonly string[];
}

export const roleArnOf = (name: string): string => `arn:aws:iam::${LOCAL_ACCOUNT}:role/${name}`;

export interface RoleRegistryOptions {
  /** Told each session minted. */
  onIssued?: (session: Session) => void;
  /** Shortest DurationSeconds accepted (AWS's, 900, by default; the tests take 1 to see expiry). */
  minDurationSeconds?: number;
}

/**
 * IAM in miniature, for the embedded demo and the tests: roles, their trust (caller and external
 * id) and the secrets each may read.
 */
export class RoleRegistry implements RolePolicy {
  readonly minDurationSeconds: number;
  private readonly roles = new Map<string, LocalRole>();
  private readonly issued: (session: Session) => void;

  constructor(options: RoleRegistryOptions = {}) {
    this.minDurationSeconds = options.minDurationSeconds ?? 900;
    this.issued = options.onIssued ?? (() => undefined);
  }

  define(role: LocalRole): string {
    const arn = roleArnOf(role.name);
    this.roles.set(arn, { ...role, secrets: [...role.secrets] });
    return arn;
  }

  checkAssume(ask: AssumeRoleAsk): void {
    const role = this.roles.get(ask.roleArn);
    const trusted = role && (role.trusted === undefined || role.trusted.includes(ask.callerAccessKeyId));
    if (!role || !trusted || role.externalId !== ask.externalId) {
      throw accessDenied(ask.callerAccessKeyId, ask.roleArn);
    }
  }

  allows(roleArn: string, operation: string, secretId: string | undefined): boolean {
    const role = this.roles.get(roleArn);
    const reads = operation === 'GetSecretValue' || operation === 'DescribeSecret';
    return role !== undefined && reads && secretId !== undefined && role.secrets.includes(secretId);
  }

  onIssued(session: Session): void {
    this.issued(session);
  }
}

import { randomBytes } from 'node:crypto';
import { AwsServiceError } from './aws-service-error.js';

/** The account the local endpoint's ARNs name. */
export const LOCAL_ACCOUNT = '123456789012';

/** Temporary credentials minted by AssumeRole, and what they stand for. */
export interface Session {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  /** Epoch milliseconds, whole seconds (as AWS's Expiration). */
  readonly expiresAt: number;
  readonly roleArn: string;
  readonly sessionName: string;
  /** `arn:aws:sts::<account>:assumed-role/<role name>/<session name>` */
  readonly assumedRoleArn: string;
}

/** What an AssumeRole request asks, once its parameters passed the model's checks. */
export interface AssumeRoleAsk {
  /** The access key id that signed the request. */
  readonly callerAccessKeyId: string;
  readonly roleArn: string;
  readonly sessionName: string;
  readonly externalId: string | undefined;
  readonly durationSeconds: number;
}

/**
 * The roles an endpoint knows: the endpoint itself trusts no one to assume anything. The tests'
 * double brings a registry (which caller may assume which role, with which external id, and which
 * secrets a role may read); without one every AssumeRole is AccessDenied.
 */
export interface RolePolicy {
  /** Refuses by throwing an AwsServiceError (`AccessDenied`, as STS names it). */
  checkAssume(ask: AssumeRoleAsk): void;
  /** Whether a session of `roleArn` may call `operation` (GetSecretValue, ...) on `secretId`. */
  allows(roleArn: string, operation: string, secretId: string | undefined): boolean;
  /** Shortest DurationSeconds accepted; AWS's is 900, a test's registry may allow 1. */
  readonly minDurationSeconds?: number;
  /** Told each session minted (the tests' leak search adds its keys to the values to look for). */
  onIssued?(session: Session): void;
}

const KEY_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The sessions minted so far, by access key id. Expired ones are kept (a request signed by one is
 * answered ExpiredToken, not "unknown key") until `max` is reached, then the oldest go first.
 */
export class SessionKeys {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly max = 10_000) {}

  mint(ask: AssumeRoleAsk, now: number): Session {
    const id = [...randomBytes(16)].map((byte) => KEY_ID_ALPHABET[byte % KEY_ID_ALPHABET.length]).join('');
    const roleName = ask.roleArn.slice(ask.roleArn.lastIndexOf('/') + 1);
    const session: Session = {
      accessKeyId: `ASIA${id}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(96).toString('base64')}`,
      expiresAt: Math.floor(now / 1000) * 1000 + ask.durationSeconds * 1000,
      roleArn: ask.roleArn,
      sessionName: ask.sessionName,
      assumedRoleArn: `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/${roleName}/${ask.sessionName}`,
    };
    this.sessions.set(session.accessKeyId, session);
    if (this.sessions.size > this.max) this.sessions.delete(this.sessions.keys().next().value as string);
    return session;
  }

  find(accessKeyId: string): Session | undefined {
    return this.sessions.get(accessKeyId);
  }

  /**
   * Checks a request signed by a session's key: it must carry the session's token, before its
   * expiry. Each service names the errors its own way.
   */
  check(session: Session, token: string | undefined, now: number, service: 'sts' | 'secretsmanager' | 'ssm'): void {
    if (token !== session.sessionToken) {
      throw service === 'sts'
        ? new AwsServiceError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403)
        : new AwsServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (now >= session.expiresAt) {
      throw new AwsServiceError(
        service === 'sts' ? 'ExpiredToken' : 'ExpiredTokenException',
        'The security token included in the request is expired',
        service === 'sts' ? 403 : 400,
      );
    }
  }
}

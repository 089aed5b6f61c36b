import type pg from 'pg';
import type { Logger } from 'pino';
import { RDS_IAM_INSECURE_TLS, type RdsIamAuth } from '../config/index.js';
import { CredflowError } from '../errors.js';
import type { RdsIamTokens } from '../secrets/index.js';

/** A resolved connection as the registry takes it: pg's fields, and maybe `auth` instead of a password. */
export type PoolConnection = pg.ClientConfig & { auth?: RdsIamAuth | undefined };

/**
 * pg's settings for a new pool. With auth "rds-iam", the password is a function pg calls for each
 * connection it opens: it returns the current token for the connection's host, port and user. The
 * token is in no field the pool is keyed by, so a new token never replaces a pool: connections
 * opened with an older one stay valid (the server checks a token only when a connection opens).
 */
export function poolConnection(
  integration: string,
  connection: PoolConnection,
  tokens: RdsIamTokens | undefined,
  logger: Logger,
): pg.ClientConfig {
  const { auth, ...fields } = connection;
  if (auth === undefined) return fields;
  if (auth.tls === RDS_IAM_INSECURE_TLS)
    logger.warn(
      { event: 'rds_iam.insecure_tls', integration },
      `RDS IAM tokens are sent without TLS (auth.tls "${RDS_IAM_INSECURE_TLS}"): for tests only`,
    );
  const { host, port, user } = fields;
  const password = async (): Promise<string> => {
    if (tokens === undefined || host === undefined || user === undefined)
      throw new CredflowError('INTERNAL', `integration "${integration}": RDS IAM tokens are not available`);
    try {
      return await tokens.token({
        hostname: host,
        port: Number(port ?? 5432),
        username: user,
        region: auth.region,
        roleArn: auth.roleArn,
        externalId: auth.externalId,
      });
    } catch (error) {
      if (!(error instanceof CredflowError)) throw error;
      throw new CredflowError(error.code, `integration "${integration}": ${error.message}`, {
        details: { ...error.details, integration },
      });
    }
  };
  return { ...fields, password };
}

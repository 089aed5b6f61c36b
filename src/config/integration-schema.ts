import { z } from 'zod';
import { configNameSchema } from './names.js';

/** A string that may hold `<<path>>` templates; rendered before connecting. */
const templatable = z.string();

const sslSchema = z.union(
  [
    z.boolean(),
    templatable,
    z.strictObject({
      enabled: z.union([z.boolean(), templatable]).optional(),
      ca: templatable.optional().describe('PEM text of the CA certificate(s) to trust'),
      caFile: z
        .string()
        .optional()
        .describe(
          'a PEM file of the CA certificate(s) to trust (such as the RDS CA bundle), read when the configuration loads; relative to the config folder',
        ),
      rejectUnauthorized: z.union([z.boolean(), templatable]).optional(),
    }),
  ],
  { message: 'expected true, false, a <<template>> string or { enabled, ca, caFile, rejectUnauthorized }' },
);

/**
 * The escape hatch that lets an rds-iam integration connect without TLS. Only for tests against a
 * database without TLS (the embedded one): the token is a bearer credential for 15 minutes, and
 * without TLS anyone on the path reads it. A literal, never a template, so no secret store can turn it on.
 */
export const RDS_IAM_INSECURE_TLS = 'insecure-plaintext-for-tests-only';

export const rdsIamAuthSchema = z.strictObject({
  type: z.literal('rds-iam', { message: 'expected "rds-iam" (the only kind of auth besides a password)' }),
  region: templatable
    .optional()
    .describe("AWS region of the database (default AWS_REGION, AWS_DEFAULT_REGION or the agent's default region)"),
  roleArn: templatable
    .optional()
    .describe(
      "IAM role the agent assumes (STS AssumeRole, from its own identity) to sign the token; default: the agent's own identity",
    ),
  externalId: templatable
    .optional()
    .describe('ExternalId passed to AssumeRole with roleArn (when the role demands one)'),
  tls: z
    .literal(RDS_IAM_INSECURE_TLS, {
      message: `the only value is "${RDS_IAM_INSECURE_TLS}" (connect without TLS, for tests); leave tls out otherwise`,
    })
    .optional()
    .describe(
      'leave out: rds-iam always uses TLS. Only tests against a database without TLS set it (see docs/security.md)',
    ),
});

/** caFile names a file read when the configuration loads: a path, alone, never rendered. */
function checkCaFile(ssl: { ca?: string | undefined; caFile?: string | undefined }, ctx: z.RefinementCtx): void {
  if (ssl.caFile === undefined) return;
  const issue = (message: string) => ctx.addIssue({ code: 'custom', path: ['ssl', 'caFile'], message });
  if (ssl.caFile.trim() === '') issue('must be the path of a PEM file (relative to the config folder)');
  else if (ssl.caFile.includes('<<'))
    issue('must be a path, not a <<template>>: the file is read when the configuration loads');
  if (ssl.ca !== undefined) issue('give either ssl.ca (PEM text) or ssl.caFile (a PEM file), not both');
}

export const connectionSchema = z
  .strictObject({
    host: templatable.optional(),
    port: z
      .union([z.number().int(), templatable], { message: 'expected a port number or a <<template>> string' })
      .optional(),
    database: templatable.optional(),
    user: templatable.optional(),
    password: templatable.optional(),
    ssl: sslSchema.optional(),
    connectionString: templatable
      .optional()
      .describe('a postgres:// URI; alternative to host, port, database, user and password'),
    auth: rdsIamAuthSchema
      .optional()
      .describe(
        'authenticate with an RDS IAM token the agent signs, instead of a password (see docs/configuration.md)',
      ),
  })
  .superRefine((c, ctx) => {
    if (typeof c.ssl === 'object') checkCaFile(c.ssl, ctx);
    if (c.auth === undefined) return;
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (c.password !== undefined)
      issue('password', 'must be left out with auth "rds-iam": the agent signs a token for each new connection');
    if (c.connectionString !== undefined)
      issue('connectionString', 'cannot be used with auth "rds-iam": give host, port, database and user');
    if (c.auth.externalId !== undefined && c.auth.roleArn === undefined)
      ctx.addIssue({ code: 'custom', path: ['auth', 'externalId'], message: 'only applies with auth.roleArn' });
    const sslOff = c.ssl === false || (typeof c.ssl === 'object' && c.ssl.enabled === false);
    const unverified = typeof c.ssl === 'object' && c.ssl.rejectUnauthorized === false;
    if ((sslOff || unverified) && c.auth.tls !== RDS_IAM_INSECURE_TLS)
      issue(
        'ssl',
        sslOff
          ? 'auth "rds-iam" needs TLS: the token is a bearer credential (leave ssl out, or give the RDS CA bundle as ssl.caFile or ssl.ca)'
          : 'auth "rds-iam" needs a verified server certificate: rejectUnauthorized false would hand the token to whoever answers',
      );
  })
  .refine(
    (c) =>
      c.connectionString === undefined ||
      [c.host, c.port, c.database, c.user, c.password].every((v) => v === undefined),
    { message: 'give either connectionString or host/port/database/user/password, not both' },
  );

const paramsSchema = z.record(z.string(), z.unknown());

export const profileNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'must be letters, digits, "_", "." or "-" (at most 64)' });

export const fetchCredentialsSchema = z.strictObject({
  enabled: z.boolean(),
  workflow: configNameSchema.describe('name of a workflow in workflows/'),
  params: paramsSchema.optional().describe("overrides for the workflow's default params"),
  profiles: z
    .record(profileNameSchema, z.strictObject({ params: paramsSchema.optional() }))
    .optional()
    .describe(
      'per-profile params laid over params (e.g. a different secret name for staging); when set, only these profiles are accepted',
    ),
  cacheTtlSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .optional()
    .describe(
      "how long a workflow response is reused (0: run the workflow every time); capped by the response's own expiresAt/ttlSeconds",
    ),
  maxStaleSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .optional()
    .describe('how long past expiry the last good response may be served while refreshing fails'),
  rotationWaitMs: z
    .number()
    .int()
    .min(0)
    .max(600_000)
    .optional()
    .describe(
      'how long a query waits for the secret store to catch up when the database refuses credentials that worked before and the store still returns them (0: fail at once; default CREDFLOW_ROTATION_WAIT_MS)',
    ),
});

export const integrationSchema = z.strictObject({
  $schema: z.string().optional(),
  name: configNameSchema,
  kind: z.literal('postgres'),
  description: z.string().optional(),
  fetchCredentialsDynamically: fetchCredentialsSchema.optional(),
  connection: connectionSchema,
  readOnly: z
    .boolean()
    .optional()
    .describe('run every query in a READ ONLY transaction that is rolled back afterwards (default false)'),
  statementTimeoutMs: z
    .number()
    .int()
    .min(0)
    .max(24 * 3600 * 1000)
    .optional()
    .describe('statement_timeout of every query, 0 for none (default CREDFLOW_STATEMENT_TIMEOUT_MS)'),
  maxRows: z
    .number()
    .int()
    .min(1)
    .max(10_000_000)
    .optional()
    .describe(
      'rows returned per query; more are dropped and the result says truncated (default CREDFLOW_QUERY_MAX_ROWS)',
    ),
  maxResultBytes: z
    .number()
    .int()
    .min(1)
    .max(1024 * 1024 * 1024)
    .optional()
    .describe(
      'bytes of row data returned per query; rows past it are dropped and the result says truncated (default CREDFLOW_QUERY_MAX_BYTES)',
    ),
});

export type IntegrationFile = z.infer<typeof integrationSchema>;
export type ConnectionFields = z.infer<typeof connectionSchema>;

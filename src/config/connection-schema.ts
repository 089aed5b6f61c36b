import { z } from 'zod';
import { RDS_IAM_INSECURE_TLS } from './integration-schema.js';

const port = z.union([
  z.number().int().min(1).max(65535),
  z
    .string()
    .regex(/^\d{1,5}$/, { message: 'must be a port number' })
    .transform(Number)
    .pipe(z.number().int().min(1, { message: 'must be 1-65535' }).max(65535, { message: 'must be 1-65535' })),
]);

const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

const ssl = z
  .union([
    flag,
    z.strictObject({
      enabled: flag.optional(),
      ca: z.string().min(1).optional(),
      rejectUnauthorized: flag.optional(),
    }),
  ])
  .optional()
  .transform((value) => {
    if (value === undefined || value === false) return false as const;
    if (value === true) return { rejectUnauthorized: true } as const;
    if (value.enabled === false) return false as const;
    return { rejectUnauthorized: value.rejectUnauthorized ?? true, ...(value.ca ? { ca: value.ca } : {}) };
  });

const text = (what: string) =>
  z.string({ message: `must be a string (${what})` }).min(1, { message: `must not be empty (${what})` });

const uriConnectionSchema = z.strictObject({
  connectionString: z.string().regex(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// or postgresql:// URI' }),
  ssl,
});

const rdsIamAuth = z.strictObject({
  type: z.literal('rds-iam'),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { message: 'must be an AWS region such as eu-west-1' })
    .optional(),
  // The same forms as a bridge call's roleArn and externalId (src/secrets/aws-call-identity.ts), checked once rendered.
  roleArn: z
    .string()
    .max(2048)
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, {
      message: 'must be an IAM role ARN such as arn:aws:iam::123456789012:role/db-connect',
    })
    .optional(),
  externalId: z
    .string()
    .regex(/^[\w+=,.@:/-]{2,1224}$/, { message: 'must be 2 to 1224 characters of letters, digits and _+=,.@:/-' })
    .optional(),
  tls: z.literal(RDS_IAM_INSECURE_TLS).optional(),
});

export type RdsIamAuth = z.output<typeof rdsIamAuth>;

const fieldsConnectionSchema = z
  .strictObject({
    host: text('host name or address'),
    port: port.default(5432),
    database: text('database name'),
    user: text('role name'),
    password: z.string({ message: 'must be a string' }).optional(),
    ssl,
    auth: rdsIamAuth.optional(),
  })
  .superRefine((c, ctx) => {
    // Rendered values are checked again: a template may have turned ssl off.
    if (c.auth === undefined || c.auth.tls === RDS_IAM_INSECURE_TLS) return;
    if (c.ssl === false)
      ctx.addIssue({
        code: 'custom',
        path: ['ssl'],
        message: 'auth "rds-iam" needs TLS: the token is a bearer credential',
      });
    else if (!c.ssl.rejectUnauthorized)
      ctx.addIssue({ code: 'custom', path: ['ssl'], message: 'auth "rds-iam" needs a verified server certificate' });
    if (c.password !== undefined)
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'must be left out with auth "rds-iam"' });
  });

/**
 * With auth "rds-iam", TLS is the default: a missing ssl means TLS verified against Node's trust
 * store (and NODE_EXTRA_CA_CERTS); the escape hatch alone leaves ssl as written.
 */
function tlsByDefault(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const fields = value as Record<string, unknown>;
  const auth = fields.auth as { tls?: unknown } | undefined;
  if (auth === undefined || fields.ssl !== undefined || auth?.tls === RDS_IAM_INSECURE_TLS) return value;
  return { ...fields, ssl: true };
}

export type ResolvedConnection = z.output<typeof uriConnectionSchema> | z.output<typeof fieldsConnectionSchema>;

/** Validates a rendered connection; the schema is chosen by whether it holds a connectionString. */
export function parseResolvedConnection(rendered: Record<string, unknown>) {
  return 'connectionString' in rendered
    ? uriConnectionSchema.safeParse(rendered)
    : fieldsConnectionSchema.safeParse(tlsByDefault(rendered));
}

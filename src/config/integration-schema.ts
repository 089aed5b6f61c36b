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
      rejectUnauthorized: z.union([z.boolean(), templatable]).optional(),
    }),
  ],
  { message: 'expected true, false, a <<template>> string or { enabled, ca, rejectUnauthorized }' },
);

export const connectionSchema = z
  .strictObject({
    host: templatable.optional(),
    port: z.union([z.number().int(), templatable], { message: 'expected a port number or a <<template>> string' }).optional(),
    database: templatable.optional(),
    user: templatable.optional(),
    password: templatable.optional(),
    ssl: sslSchema.optional(),
    connectionString: templatable
      .optional()
      .describe('a postgres:// URI; alternative to host, port, database, user and password'),
  })
  .refine(
    (c) =>
      c.connectionString === undefined ||
      [c.host, c.port, c.database, c.user, c.password].every((v) => v === undefined),
    { message: 'give either connectionString or host/port/database/user/password, not both' },
  );

export const fetchCredentialsSchema = z.strictObject({
  enabled: z.boolean(),
  workflow: configNameSchema.describe('name of a workflow in workflows/'),
  params: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("overrides for the workflow's default params"),
});

export const integrationSchema = z.strictObject({
  $schema: z.string().optional(),
  name: configNameSchema,
  kind: z.literal('postgres'),
  description: z.string().optional(),
  fetchCredentialsDynamically: fetchCredentialsSchema.optional(),
  connection: connectionSchema,
});

export type IntegrationFile = z.infer<typeof integrationSchema>;
export type ConnectionFields = z.infer<typeof connectionSchema>;

import { z } from 'zod';

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

const fieldsConnectionSchema = z.strictObject({
  host: text('host name or address'),
  port: port.default(5432),
  database: text('database name'),
  user: text('role name'),
  password: z.string({ message: 'must be a string' }).optional(),
  ssl,
});

export type ResolvedConnection = z.output<typeof uriConnectionSchema> | z.output<typeof fieldsConnectionSchema>;

/** Validates a rendered connection; the schema is chosen by whether it holds a connectionString. */
export function parseResolvedConnection(rendered: Record<string, unknown>) {
  return 'connectionString' in rendered
    ? uriConnectionSchema.safeParse(rendered)
    : fieldsConnectionSchema.safeParse(rendered);
}

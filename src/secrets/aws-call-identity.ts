import { z } from 'zod';

/**
 * The arguments every AWS bridge call accepts besides its own: where (`region`), as whom
 * (`credentials`, else the agent's), and a role to assume first (`roleArn`, `externalId`,
 * `sessionName`). Spread into each call's zod schema.
 */
export const awsCallIdentityShape = {
  region: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/, { message: 'must be an AWS region such as us-east-1' })
    .optional(),
  credentials: z
    .strictObject({
      accessKeyId: z.string().min(1),
      secretAccessKey: z.string().min(1),
      sessionToken: z.string().min(1).optional(),
    })
    .optional(),
  roleArn: z
    .string()
    .max(2048)
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, {
      message: 'must be an IAM role ARN such as arn:aws:iam::123456789012:role/reader',
    })
    .optional(),
  externalId: z
    .string()
    .regex(/^[\w+=,.@:/-]{2,1224}$/, { message: 'must be 2 to 1224 characters of letters, digits and _+=,.@:/-' })
    .optional(),
  sessionName: z
    .string()
    .regex(/^[\w+=,.@-]{2,64}$/, { message: 'must be 2 to 64 characters of letters, digits and _+=,.@-' })
    .optional(),
};

export type AwsCallIdentity = z.infer<z.ZodObject<typeof awsCallIdentityShape>>;

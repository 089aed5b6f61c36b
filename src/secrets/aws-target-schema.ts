import { z } from 'zod';

/** The fields every AWS bridge call takes besides its own: where to call and as whom. */
export const awsTargetFields = {
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
};

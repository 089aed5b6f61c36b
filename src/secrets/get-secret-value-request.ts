import { z } from 'zod';

/** What step code may pass to aws.secretsManager.getSecretValue, checked on the host. */
export const getSecretValueRequestSchema = z.strictObject({
  SecretId: z.string().min(1).max(2048),
  VersionId: z.string().min(32).max(64).optional(),
  VersionStage: z.string().min(1).max(256).optional(),
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
});

export type GetSecretValueRequest = z.infer<typeof getSecretValueRequestSchema>;

export interface SecretValue {
  Name: string | undefined;
  ARN: string | undefined;
  VersionId: string | undefined;
  VersionStages: string[];
  SecretString?: string;
  /** base64 of the binary secret */
  SecretBinary?: string;
}

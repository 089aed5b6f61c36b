import { z } from 'zod';
import { awsTargetFields } from './aws-target-schema.js';

/** What step code may pass to aws.secretsManager.getSecretValue, checked on the host. */
export const getSecretValueRequestSchema = z.strictObject({
  SecretId: z.string().min(1).max(2048),
  VersionId: z.string().min(32).max(64).optional(),
  VersionStage: z.string().min(1).max(256).optional(),
  ...awsTargetFields,
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

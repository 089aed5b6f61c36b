import { z } from 'zod';
import { awsTargetFields } from './aws-target-schema.js';
import type { SecretValue } from './get-secret-value-request.js';

/** What step code may pass to aws.secretsManager.batchGetSecretValue: up to 20 SecretIds, as the service takes. */
export const batchGetSecretValueRequestSchema = z.strictObject({
  SecretIdList: z.array(z.string().min(1).max(2048)).min(1).max(20),
  ...awsTargetFields,
});
export type BatchGetSecretValueRequest = z.infer<typeof batchGetSecretValueRequestSchema>;

/** What step code may pass to aws.secretsManager.describeSecret. */
export const describeSecretRequestSchema = z.strictObject({
  SecretId: z.string().min(1).max(2048),
  ...awsTargetFields,
});
export type DescribeSecretRequest = z.infer<typeof describeSecretRequestSchema>;

/** A secret the batch could not read, as the service reports it. */
export interface BatchSecretError {
  SecretId: string;
  ErrorCode: string;
  Message: string;
}

export interface BatchSecretValues {
  SecretValues: SecretValue[];
  Errors: BatchSecretError[];
}

/** DescribeSecret's metadata a step may want (rotation above all); dates as ISO 8601 text. */
export interface SecretDescription {
  Name: string | undefined;
  ARN: string | undefined;
  Description?: string;
  RotationEnabled: boolean;
  NextRotationDate?: string;
  LastRotatedDate?: string;
  LastChangedDate?: string;
  CreatedDate?: string;
  VersionIdsToStages: Record<string, string[]>;
}

import { z } from 'zod';
import { awsTargetFields } from './aws-target-schema.js';

/** SSM's parameter names: letters, digits and `_.-/`, or the parameter's ARN. */
const parameterName = z.string().min(1).max(2048);

/** What step code may pass to aws.ssm.getParameter, checked on the host. */
export const getParameterRequestSchema = z.strictObject({
  Name: parameterName,
  WithDecryption: z.boolean().optional(),
  ...awsTargetFields,
});
export type GetParameterRequest = z.infer<typeof getParameterRequestSchema>;

/** What step code may pass to aws.ssm.getParametersByPath; the agent pages through the answer itself. */
export const getParametersByPathRequestSchema = z.strictObject({
  Path: parameterName.regex(/^\//, { message: 'must start with "/", e.g. /prod/db' }),
  Recursive: z.boolean().optional(),
  WithDecryption: z.boolean().optional(),
  ...awsTargetFields,
});
export type GetParametersByPathRequest = z.infer<typeof getParametersByPathRequestSchema>;

/** A parameter as step code sees it; LastModifiedDate as ISO 8601 text. */
export interface Parameter {
  Name: string;
  Type: string;
  Value: string;
  Version: number | undefined;
  ARN: string | undefined;
  LastModifiedDate?: string;
  DataType?: string;
}

/** getParametersByPath reads at most this many pages of 10 (100 parameters): a bigger tree is an error, not a truncation. */
export const maxParameterPages = 10;
export const parametersPerPage = 10;

import { z } from 'zod';
import { parseAllowedHost } from './allowed-host.js';
import { configNameSchema, stepNameSchema } from './names.js';

export const sandboxLimitsSchema = z
  .strictObject({
    memoryMb: z.number().int().min(8).max(4096).optional().describe('isolate heap limit in MiB'),
    stepTimeoutMs: z.number().int().min(1).max(600_000).optional().describe('wall-clock limit per step'),
    runTimeoutMs: z.number().int().min(1).max(600_000).optional().describe('wall-clock limit per run'),
    maxResponseBytes: z
      .number()
      .int()
      .min(2)
      .max(16 * 1024 * 1024)
      .optional(),
    maxBridgeCalls: z.number().int().min(0).max(10_000).optional().describe('bridge calls (GetSecretValue) per run'),
    maxLogBytes: z
      .number()
      .int()
      .min(16)
      .max(1024 * 1024)
      .optional()
      .describe('longest text of one console call'),
    maxLogLines: z.number().int().min(1).max(100_000).optional().describe('console calls kept per step'),
    maxRunLogBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .optional()
      .describe('UTF-8 bytes of log text kept per run, across its steps'),
    maxRunLogLines: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe('console calls kept per run, across its steps'),
  })
  .describe("lower the agent's sandbox limits for this workflow; a value above the agent's limit is capped to it");

/** Steps a workflow may have: checked when the file loads (and by `credflow validate`) and when a run starts. */
export const maxWorkflowSteps = 50;

/** A SecretId pattern: `*` matches any run of characters (slashes included). */
const secretPatternSchema = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[A-Za-z0-9/_+=.@:*-]+$/, { message: 'must be a secret name or ARN, with * as a wildcard' });

const rolePatternSchema = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[A-Za-z0-9/_+=,.@:*-]+$/, { message: 'must be an IAM role ARN, with * as a wildcard' });
/** A Vault API path pattern (after /v1/): `*` matches any run of characters (slashes included). */
const vaultPathPatternSchema = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^[A-Za-z0-9/_+=.@:*-]+$/, {
    message: 'must be a Vault path (e.g. "secret/data/app/*"), with * as a wildcard',
  });
/** An allowedHosts entry: an origin, `*.` allowed before a domain (see allowed-host.ts). */
const allowedHostSchema = z
  .string()
  .min(1)
  .max(300)
  .superRefine((entry, ctx) => {
    const parsed = parseAllowedHost(entry);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
  });
/** An SSM parameter name pattern: `*` matches any run of characters (slashes included). */
const parameterPatternSchema = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[A-Za-z0-9/_.:*-]+$/, { message: 'must be a parameter name, path or ARN, with * as a wildcard' });

const stepSchema = z
  .strictObject({
    name: stepNameSchema,
    code: z.string().min(1).optional().describe('JavaScript body of an async function'),
    codeFile: z
      .string()
      .regex(/^[A-Za-z0-9_./-]+\.js$/, { message: 'must be a relative path to a .js file' })
      .optional()
      .describe('a .js file beside the workflow, holding the body of an async function'),
  })
  .refine((s) => (s.code === undefined) !== (s.codeFile === undefined), {
    message: 'a step needs exactly one of "code" or "codeFile"',
  });

export const workflowSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: configNameSchema,
    description: z.string().optional(),
    params: z.record(z.string(), z.unknown()).optional().describe('default params'),
    limits: sandboxLimitsSchema.optional(),
    allowedSecrets: z
      .array(secretPatternSchema)
      .max(1000)
      .optional()
      .describe('SecretId patterns (e.g. "prod/db/*") this workflow may read; when set, every other secret is refused'),
    allowedRoles: z
      .array(rolePatternSchema)
      .max(1000)
      .optional()
      .describe(
        'IAM role ARN patterns (e.g. "arn:aws:iam::123456789012:role/reader-*") this workflow may assume with roleArn; without it, none',
      ),
    allowedVaultPaths: z
      .array(vaultPathPatternSchema)
      .max(1000)
      .optional()
      .describe(
        'Vault API paths (after /v1/) this workflow may read: "secret/data/app/*" for vault.kv.get, "database/creds/orders" for vault.read; when set, every other path is refused',
      ),
    allowedHosts: z
      .array(allowedHostSchema)
      .max(100)
      .optional()
      .describe(
        'origins (e.g. "https://api.doppler.com", "https://*.example.com") that http.fetch may reach; unset or empty, it reaches none',
      ),
    allowedParameters: z
      .array(parameterPatternSchema)
      .max(1000)
      .optional()
      .describe(
        'SSM parameter name patterns (e.g. "/prod/db/*") this workflow may read; when set, every other parameter is refused',
      ),
    steps: z
      .array(stepSchema)
      .min(1)
      .max(maxWorkflowSteps, { message: `a workflow may have at most ${maxWorkflowSteps} steps` }),
  })
  .superRefine((wf, ctx) => {
    const seen = new Set<string>();
    wf.steps.forEach((step, index) => {
      if (seen.has(step.name)) {
        ctx.addIssue({ code: 'custom', path: ['steps', index, 'name'], message: `duplicate step name "${step.name}"` });
      }
      seen.add(step.name);
    });
  });

export type WorkflowFile = z.infer<typeof workflowSchema>;
export type SandboxLimitsOverride = z.infer<typeof sandboxLimitsSchema>;

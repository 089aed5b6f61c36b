import { z } from 'zod';
import { configNameSchema, stepNameSchema } from './names.js';

export const sandboxLimitsSchema = z.strictObject({
  memoryMb: z.number().int().min(8).max(4096).optional().describe('isolate heap limit in MiB'),
  stepTimeoutMs: z.number().int().min(1).max(600_000).optional().describe('wall-clock limit per step'),
  runTimeoutMs: z.number().int().min(1).max(600_000).optional().describe('wall-clock limit per run'),
  maxResponseBytes: z.number().int().min(2).max(16 * 1024 * 1024).optional(),
});

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
    steps: z.array(stepSchema).min(1),
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

import { z } from 'zod';
import { identifierPattern, maxWorkflowSteps } from '../config/index.js';

/**
 * Messages between the agent (host/) and a sandbox worker process (guest/), checked with zod on
 * arrival at both ends. A step's failure crosses as plain data (code, message, details).
 * The worker runs untrusted code, so the agent treats anything it sends as untrusted too: a message
 * that does not fit these shapes gets the worker stopped.
 */

const limitsSchema = z.strictObject({
  memoryMb: z.number().int().positive(),
  stepTimeoutMs: z.number().int().positive(),
  runTimeoutMs: z.number().int().positive(),
  maxResponseBytes: z.number().int().positive(),
  maxBridgeCalls: z.number().int().nonnegative(),
  maxLogBytes: z.number().int().positive(),
  maxLogLines: z.number().int().positive(),
  maxRunLogBytes: z.number().int().positive(),
  maxRunLogLines: z.number().int().positive(),
});

const bridgeErrorSchema = z.strictObject({
  name: z.string().max(200),
  message: z.string().max(10_000),
  code: z.string().max(200).optional(),
});

export const agentMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('init'),
    prewarm: z.number().int().nonnegative(),
    memoryMb: z.number().int().positive(),
  }),
  z.strictObject({
    type: z.literal('run'),
    id: z.number().int(),
    workflow: z.string(),
    // Step names become parameter names of the step's function inside the isolate.
    steps: z
      .array(z.strictObject({ name: z.string().regex(identifierPattern), code: z.string() }))
      .max(maxWorkflowSteps),
    input: z.strictObject({
      params: z.record(z.string(), z.unknown()),
      env: z.record(z.string(), z.string()),
      context: z.record(z.string(), z.unknown()),
    }),
    limits: limitsSchema,
    // Set for a run sent again after its worker died: what is left of its first deadline.
    timeLeftMs: z.number().int().positive().optional(),
  }),
  z.strictObject({
    type: z.literal('answer'),
    call: z.number().int(),
    value: z.unknown().optional(),
    error: bridgeErrorSchema.optional(),
  }),
]);

export type AgentMessage = z.infer<typeof agentMessageSchema>;

const stepResultSchema = z.strictObject({
  name: z.string().max(1000),
  durationMs: z.number().nonnegative(),
  logs: z.array(z.strictObject({ level: z.enum(['info', 'warn', 'error', 'debug']), message: z.string() })),
  output: z.unknown(),
});

export const workerMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('started'), id: z.number().int() }),
  z.strictObject({
    type: z.literal('bridge'),
    id: z.number().int(),
    call: z.number().int(),
    method: z.string().max(200),
    args: z.unknown(),
  }),
  z.strictObject({
    type: z.literal('done'),
    id: z.number().int(),
    steps: z.array(stepResultSchema),
    response: z.unknown(),
  }),
  z.strictObject({
    type: z.literal('failed'),
    id: z.number().int(),
    code: z.enum(['WORKFLOW_FAILED', 'WORKFLOW_TIMEOUT']),
    message: z.string().max(20_000),
    // Plain values only: a failure's details reach answers beside masked text, never as structures.
    details: z.record(z.string(), z.union([z.string().max(20_000), z.number(), z.boolean(), z.null()])),
    steps: z.array(stepResultSchema),
  }),
]);

export type WorkerMessage = z.infer<typeof workerMessageSchema>;
export type StepResultMessage = z.infer<typeof stepResultSchema>;

import ivm from 'isolated-vm';
import { z } from 'zod';
import { CredflowError, messageOf, truncate } from '../errors.js';
import { maxWorkflowSteps, type SandboxLimits } from '../config/index.js';
import { stepNameSchema } from '../config/names.js';
import { maxErrorNameLength, maxMessageLength } from './bootstrap-source.js';
import { prepareIsolate, type IsolatePool } from './isolate-pool.js';
import { ivmOptions } from './ivm-options.js';
import { RunLogBudget } from './run-logs.js';

export interface SandboxStep {
  readonly name: string;
  readonly code: string;
}

export type LogLevel = 'info' | 'warn' | 'error' | 'debug';
const logLevels: ReadonlySet<LogLevel> = new Set<LogLevel>(['info', 'warn', 'error', 'debug']);

/** What a step may call on the host. A rejection with a BridgeError reaches step code as that error. */
export type BridgeHandler = (method: string, args: unknown) => Promise<unknown>;

/** An error that step code sees with this name and message, and nothing else of the host. */
export class BridgeError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface SandboxInput {
  params: Record<string, unknown>;
  env: Record<string, string>;
  context: Record<string, unknown>;
}

export interface StepResult {
  name: string;
  durationMs: number;
  logs: { level: LogLevel; message: string }[];
  output: unknown;
}

export interface SandboxRunOptions {
  workflow: string;
  steps: readonly SandboxStep[];
  input: SandboxInput;
  limits: SandboxLimits;
  bridge: BridgeHandler;
  /** Less time than runTimeoutMs: a run sent again after its worker died keeps its first deadline. */
  timeLeftMs?: number;
  /** Where the run's isolate comes from (pre-created ahead of time); by default a fresh one. */
  isolates?: Pick<IsolatePool, 'take' | 'replenish'>;
}

export interface SandboxRunResult {
  steps: StepResult[];
  response: unknown;
}

/** A step failed; `steps` holds what ran, the failing step included. */
export class StepFailure extends CredflowError {
  constructor(
    code: 'WORKFLOW_FAILED' | 'WORKFLOW_TIMEOUT',
    message: string,
    readonly steps: StepResult[],
    details: Record<string, unknown>,
  ) {
    super(code, message, { details });
  }
}

/**
 * Runs a workflow's steps in one fresh isolate with a fresh context per step. Inputs go in as JSON,
 * outputs come out as JSON strings made inside the isolate. The host enforces each step's and the
 * whole run's wall-clock deadline by disposing the isolate, which also ends runs stuck on a promise
 * that never settles. The isolate is always disposed before this returns.
 */
export async function runInSandbox(options: SandboxRunOptions): Promise<SandboxRunResult> {
  const { limits, workflow } = options;
  checkStepCount(workflow, options.steps);
  // Step names become parameter names of each later step's function; the config checks them, and
  // so does this, for callers that did not come through it.
  for (const step of options.steps) {
    const checked = stepNameSchema.safeParse(step.name);
    if (!checked.success) {
      throw new StepFailure(
        'WORKFLOW_FAILED',
        `workflow "${workflow}": step name "${truncate(step.name, 64)}" ${checked.error.issues[0]?.message ?? 'is not allowed'}`,
        [],
        { workflow, step: step.name },
      );
    }
  }
  const bridge = limitBridge(options.bridge, limits);
  let bridgeCalls = 0;
  const prepared = options.isolates ? options.isolates.take(limits.memoryMb) : prepareIsolate(limits.memoryMb);
  const isolate = prepared.isolate;
  let firstContext: ivm.Context | undefined = prepared.context;
  const runDeadline = Date.now() + Math.min(limits.runTimeoutMs, options.timeLeftMs ?? Infinity);
  const results: StepResult[] = [];
  const outputs: Record<string, { output: unknown }> = {};
  const runLogs = new RunLogBudget(limits);
  let open = true;

  try {
    const script = prepared.script;
    for (const step of options.steps) {
      const logs: StepResult['logs'] = [];
      const started = performance.now();
      const result: StepResult = { name: step.name, durationMs: 0, logs, output: null };
      results.push(result);
      const fail = (
        code: 'WORKFLOW_FAILED' | 'WORKFLOW_TIMEOUT',
        why: string,
        extra: Record<string, unknown> = {},
      ): never => {
        result.durationMs = Math.round(performance.now() - started);
        throw new StepFailure(code, `workflow "${workflow}" failed in step "${step.name}": ${why}`, results, {
          workflow,
          step: step.name,
          ...extra,
        });
      };

      const remaining = runDeadline - Date.now();
      if (remaining <= 0) fail('WORKFLOW_TIMEOUT', `the run exceeded its time limit of ${limits.runTimeoutMs} ms`);
      const stepBudget = Math.min(limits.stepTimeoutMs, remaining);
      const timeoutMessage =
        stepBudget === limits.stepTimeoutMs
          ? `the step exceeded its time limit of ${limits.stepTimeoutMs} ms`
          : `the run exceeded its time limit of ${limits.runTimeoutMs} ms`;

      const context = firstContext ?? (await isolate.createContext());
      firstContext = undefined;
      try {
        const jail = context.global;
        // Synchronous sets: the context is idle here, and each async set would cost a thread hop.
        jail.setSync(
          '__cf_bridge',
          new ivm.Reference(async (method: string, payload: string): Promise<string> => {
            if (!open)
              return JSON.stringify({ error: { name: 'Error', message: 'the run is over; no more calls are made' } });
            bridgeCalls += 1;
            try {
              const value = await bridge(method, JSON.parse(payload));
              return JSON.stringify({ value: value ?? null });
            } catch (error) {
              const e = error instanceof BridgeError ? error : new BridgeError('Error', `${method} failed`);
              return JSON.stringify({ error: { name: e.name, message: e.message, code: e.code } });
            }
          }),
        );
        jail.setSync(
          '__cf_log',
          new ivm.Reference((level: unknown, message: unknown) => {
            // The bootstrap sends a level and a string, but what arrives comes from the isolate: a line
            // that is not text is replaced here, so the worker never sends the agent a result it refuses.
            // null: the bootstrap was told no more lines are kept, and only counts this one.
            const text =
              typeof message === 'string'
                ? message
                : `(a log line that is not text: ${message === null ? 'null' : typeof message})`;
            const checked =
              typeof level === 'string' && logLevels.has(level as LogLevel) ? (level as LogLevel) : 'info';
            runLogs.add(logs, checked, text);
            return runLogs.isFull || logs.length >= limits.maxLogLines;
          }),
        );
        const input = {
          ...options.input,
          steps: outputs,
          code: step.code,
          maxResponseBytes: limits.maxResponseBytes,
          maxBridgeCalls: limits.maxBridgeCalls,
          logsFull: runLogs.isFull,
          bridgeCallsLeft: Math.max(0, limits.maxBridgeCalls - bridgeCalls),
        };
        jail.setSync('__cf_input', JSON.stringify(input));

        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), stepBudget);
        });
        const running = script.run(context, ivmOptions({ timeout: stepBudget, promise: true })).then(
          (value: unknown) => ({ value }),
          (error: unknown) => ({ error }),
        );
        const outcome = await Promise.race([running, deadline]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          open = false;
          return fail('WORKFLOW_TIMEOUT', timeoutMessage);
        }
        if ('error' in outcome) {
          open = false;
          return fail(...classifyIsolateError(outcome.error, limits, timeoutMessage));
        }
        result.durationMs = Math.round(performance.now() - started);
        // An answer that arrives after the budget (the event loop was busy) is still a timeout.
        if (performance.now() - started > stepBudget + 50) {
          open = false;
          return fail('WORKFLOW_TIMEOUT', timeoutMessage);
        }
        const answer = readAnswer(outcome.value, limits.maxResponseBytes);
        if (!answer.ok) {
          if (answer.compile)
            return fail('WORKFLOW_FAILED', `the code does not compile: ${cut(answer.error.message)}`, {
              errorName: 'SyntaxError',
            });
          const { name, messageLength } = answer.error;
          const message = cut(answer.error.message);
          if (messageLength !== undefined && messageLength > maxMessageLength) {
            // The bootstrap cut the message inside the isolate: only its start crossed.
            return fail(
              'WORKFLOW_FAILED',
              `the step threw ${name} with a message of ${messageLength} characters, cut to its first ${maxMessageLength}: ${message}…`,
              {
                errorName: name,
                messageLength,
              },
            );
          }
          const tooLarge = name === 'RangeError' && /^the returned value is .* bytes of JSON/.test(message);
          return fail('WORKFLOW_FAILED', `${name}: ${message}`, {
            errorName: name,
            ...(tooLarge ? { responseTooLarge: true } : {}),
          });
        }
        result.output = answer.value;
        outputs[step.name] = { output: answer.value };
      } finally {
        context.release();
      }
    }
    const last = results[results.length - 1];
    return { steps: results, response: last?.output ?? null };
  } finally {
    open = false;
    // The run is over (no bridge call is served any more); disposing the isolate, which also stops
    // any code still running in it, and preparing the next one happen after the answer is out.
    setImmediate(() => {
      if (!isolate.isDisposed) isolate.dispose();
      options.isolates?.replenish();
    });
  }
}

/**
 * Holds a run to its bridge budget and deadline: past either, a call is refused without reaching the
 * handler. Applied where the run starts, and again by the agent for runs in a sandbox worker.
 */
export function limitBridge(
  bridge: BridgeHandler,
  limits: Pick<SandboxLimits, 'maxBridgeCalls' | 'runTimeoutMs'>,
  deadline = Date.now() + limits.runTimeoutMs,
): BridgeHandler {
  let calls = 0;
  return (method, args) => {
    if (Date.now() >= deadline) {
      return Promise.reject(
        new BridgeError('Error', `the run is past its time limit of ${limits.runTimeoutMs} ms; no more calls are made`),
      );
    }
    calls += 1;
    if (calls > limits.maxBridgeCalls) {
      return Promise.reject(
        new BridgeError('LimitExceededException', `a run may make at most ${limits.maxBridgeCalls} bridge calls`),
      );
    }
    return bridge(method, args);
  };
}

/** Refuses a run of more steps than a workflow may have (the config loader refuses such a file too). */
export function checkStepCount(workflow: string, steps: readonly unknown[]): void {
  if (steps.length > maxWorkflowSteps) {
    throw new StepFailure(
      'WORKFLOW_FAILED',
      `workflow "${workflow}" has ${steps.length} steps; a workflow may have at most ${maxWorkflowSteps}`,
      [],
      { workflow, steps: steps.length, maxSteps: maxWorkflowSteps },
    );
  }
}

const cut = (text: string): string => truncate(text, maxMessageLength);

/**
 * An error answer holds at most maxMessageLength characters of message and maxErrorNameLength of
 * name, each up to 6 bytes once escaped as JSON, and a short envelope.
 */
const maxErrorAnswerBytes = 6 * (maxMessageLength + maxErrorNameLength) + 200;

const answerSchema = z.union([
  z.strictObject({ ok: z.literal(true), value: z.unknown() }),
  z.strictObject({
    ok: z.literal(false),
    compile: z.literal(true).optional(),
    error: z.strictObject({
      name: z.string().max(maxErrorNameLength),
      message: z.string().max(maxMessageLength),
      /** The whole message's length, when the bootstrap cut it. */
      messageLength: z.number().int().nonnegative().optional(),
    }),
  }),
]);

type Answer = z.infer<typeof answerSchema>;

/**
 * The isolate's answer is untrusted: step code can tamper with the built-ins the bootstrap uses. The
 * host checks that it is a string of JSON in the expected shape and within the size limit (in bytes):
 * a value within maxResponseBytes, an error (cut inside the isolate) within maxErrorAnswerBytes.
 */
function readAnswer(raw: unknown, maxResponseBytes: number): Answer {
  const invalid = (why: string): Answer => ({
    ok: false,
    error: { name: 'Error', message: `the step did not produce a valid result (${why})` },
  });
  if (typeof raw !== 'string') return invalid(`got a ${typeof raw} instead of JSON text`);
  // The envelope adds a few bytes around the value; the value alone is what the limit is about.
  const bytes = Buffer.byteLength(raw) - '{"ok":true,"value":}'.length;
  const tooLarge: Answer = {
    ok: false,
    error: {
      name: 'RangeError',
      message: `the returned value is ${bytes} bytes of JSON, over the limit of ${maxResponseBytes}`,
    },
  };
  if (bytes > Math.max(maxResponseBytes, maxErrorAnswerBytes)) {
    return raw.startsWith('{"ok":false') ? invalid(`an error answer of ${bytes} bytes`) : tooLarge;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return invalid('not JSON');
  }
  const checked = answerSchema.safeParse(parsed);
  if (!checked.success) return invalid('unexpected shape');
  return checked.data.ok && bytes > maxResponseBytes ? tooLarge : checked.data;
}

function classifyIsolateError(
  error: unknown,
  limits: SandboxLimits,
  timeoutMessage: string,
): ['WORKFLOW_FAILED' | 'WORKFLOW_TIMEOUT', string] {
  const message = messageOf(error);
  if (/memory limit/i.test(message))
    return ['WORKFLOW_FAILED', `the step exceeded the memory limit of ${limits.memoryMb} MB`];
  if (/timed out|disposed/i.test(message)) return ['WORKFLOW_TIMEOUT', timeoutMessage];
  return ['WORKFLOW_FAILED', cut(message.split('\n')[0] ?? 'the step failed')];
}

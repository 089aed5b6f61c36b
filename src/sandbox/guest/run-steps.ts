import ivm from 'isolated-vm';
import type { SandboxLimits } from '../../config/index.js';
import { messageOf, truncate } from '../../errors.js';
import { checkSteps } from '../check-steps.js';
import {
  BridgeError,
  type LogLevel,
  type SandboxJob,
  type StepFailureCode,
  type StepResult,
  type StepsOutcome,
} from '../contract.js';
import { limitBridge } from '../limit-bridge.js';
import { RunLogBudget } from '../run-logs.js';
import { maxMessageLength } from './bootstrap-source.js';
import { prepareIsolate, type IsolatePool } from './isolate-pool.js';
import { ivmOptions } from './ivm-options.js';
import { readAnswer } from './read-answer.js';

const logLevels: ReadonlySet<LogLevel> = new Set<LogLevel>(['info', 'warn', 'error', 'debug']);

export interface RunStepsOptions extends SandboxJob {
  /** Less time than runTimeoutMs: a run sent again after its worker died keeps its first deadline. */
  timeLeftMs?: number;
  /** Where the run's isolate comes from (pre-created ahead of time); by default a fresh one. */
  isolates?: Pick<IsolatePool, 'take' | 'replenish'>;
}

const cut = (text: string): string => truncate(text, maxMessageLength);

/**
 * Runs a workflow's steps in one fresh isolate with a fresh context per step. Inputs go in as JSON,
 * outputs come out as JSON strings made inside the isolate. The host enforces each step's and the
 * whole run's wall-clock deadline by disposing the isolate, which also ends runs stuck on a promise
 * that never settles. The isolate is always disposed before this returns. A failing step is an
 * outcome (plain data, as it crosses the worker's IPC); only a failure of isolated-vm itself rejects.
 */
export async function runSteps(options: RunStepsOptions): Promise<StepsOutcome> {
  const { limits, workflow } = options;
  const refused = checkSteps(workflow, options.steps);
  if (refused) return { ok: false, failure: refused, steps: [] };
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
      const fail = (code: StepFailureCode, why: string, extra: Record<string, unknown> = {}): StepsOutcome => {
        result.durationMs = Math.round(performance.now() - started);
        const message = `workflow "${workflow}" failed in step "${step.name}": ${why}`;
        return {
          ok: false,
          failure: { code, message, details: { workflow, step: step.name, ...extra } },
          steps: results,
        };
      };

      const remaining = runDeadline - Date.now();
      if (remaining <= 0)
        return fail('WORKFLOW_TIMEOUT', `the run exceeded its time limit of ${limits.runTimeoutMs} ms`);
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
          return fail('WORKFLOW_FAILED', `${name}: ${message}`, {
            errorName: name,
            ...(answer.tooLarge ? { responseTooLarge: true } : {}),
          });
        }
        result.output = answer.value;
        outputs[step.name] = { output: answer.value };
      } finally {
        context.release();
      }
    }
    const last = results[results.length - 1];
    return { ok: true, steps: results, response: last?.output ?? null };
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

function classifyIsolateError(
  error: unknown,
  limits: SandboxLimits,
  timeoutMessage: string,
): [StepFailureCode, string] {
  const message = messageOf(error);
  if (/memory limit/i.test(message))
    return ['WORKFLOW_FAILED', `the step exceeded the memory limit of ${limits.memoryMb} MB`];
  if (/timed out|disposed/i.test(message)) return ['WORKFLOW_TIMEOUT', timeoutMessage];
  return ['WORKFLOW_FAILED', cut(message.split('\n')[0] ?? 'the step failed')];
}
